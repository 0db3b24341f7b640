/*
 * Spawn attributes (weft_attr_init(3)).
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "core/attr.h"
#include "core/stack.h"

_Static_assert(sizeof(struct weft__attr) <= sizeof(weft_attr),
    "weft_attr storage too small");

static int attr_write(weft_attr *attr, const struct weft__attr *a)
{
	memcpy(attr, a, sizeof(*a));
	return 0;
}

/* Store value in the int at offset off of an initialised attr, if valid. */
static int set_int(weft_attr *attr, size_t off, int value, int valid)
{
	struct weft__attr a;

	if (!attr || weft__attr_read(attr, &a) == -1 || !valid)
		return weft__fail(EINVAL);
	memcpy((char *)&a + off, &value, sizeof(value));
	return attr_write(attr, &a);
}

/* Read the int at offset off of an initialised attr. */
static int get_int(const weft_attr *attr, size_t off, int *value)
{
	struct weft__attr a;

	if (!attr || !value || weft__attr_read(attr, &a) == -1)
		return weft__fail(EINVAL);
	memcpy(value, (const char *)&a + off, sizeof(*value));
	return 0;
}

int weft_attr_init(weft_attr *attr)
{
	struct weft__attr a;

	if (!attr)
		return weft__fail(EINVAL);
	memset(attr, 0, sizeof(*attr));
	memset(&a, 0, sizeof(a));
	a.magic = WEFT__ATTR_MAGIC;
	return attr_write(attr, &a);
}

int weft_attr_setstacksize(weft_attr *attr, size_t size)
{
	struct weft__attr a;

	if (!attr || weft__attr_read(attr, &a) == -1 ||
	    (size && !weft__stack_size_ok(size)))
		return weft__fail(EINVAL);
	a.stack_size = size ? weft__page_round(size) : 0;
	return attr_write(attr, &a);
}

int weft_attr_getstacksize(const weft_attr *attr, size_t *size)
{
	struct weft__attr a;

	if (!attr || !size || weft__attr_read(attr, &a) == -1)
		return weft__fail(EINVAL);
	*size = a.stack_size;
	return 0;
}

int weft_attr_setguard(weft_attr *attr, int guard)
{
	return set_int(attr, offsetof(struct weft__attr, guard), guard,
	    guard >= WEFT_GUARD_AUTO && guard <= WEFT_GUARD_CANARY);
}

int weft_attr_getguard(const weft_attr *attr, int *guard)
{
	return get_int(attr, offsetof(struct weft__attr, guard), guard);
}

int weft_attr_setdetached(weft_attr *attr, int detached)
{
	return set_int(attr, offsetof(struct weft__attr, detached), detached,
	    detached == 0 || detached == 1);
}

int weft_attr_getdetached(const weft_attr *attr, int *detached)
{
	return get_int(attr, offsetof(struct weft__attr, detached), detached);
}

int weft_attr_setname(weft_attr *attr, const char *name)
{
	struct weft__attr a;

	if (!attr || weft__attr_read(attr, &a) == -1)
		return weft__fail(EINVAL);
	if (!name)
		memset(a.name, 0, sizeof(a.name));
	else if (weft__name_copy(a.name, name) == -1)
		return -1;
	return attr_write(attr, &a);
}

int weft_attr_setlocal(weft_attr *attr, int local)
{
	return set_int(attr, offsetof(struct weft__attr, local), local,
	    local == 0 || local == 1);
}

int weft_attr_getlocal(const weft_attr *attr, int *local)
{
	return get_int(attr, offsetof(struct weft__attr, local), local);
}
