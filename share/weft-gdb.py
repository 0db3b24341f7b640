# weft's commands for gdb: the tasks of a live process or a core file.
#
#   info weft-tasks     every task of every thread: id, name, state, what
#                       it waits for and since when, where it was spawned,
#                       its stack (the columns of weft_dump(3))
#   weft-bt ID          the backtrace of task ID from its saved registers
#                       (0: the main context of the selected thread's
#                       runtime is not a task; give a task id)
#
# Load it with `source /usr/local/share/weft/weft-gdb.py`, or let gdb load
# it with libweft (it is installed on gdb's auto-load path too).  It needs
# libweft's debug information.  Times count to now in a live process (the
# same CLOCK_MONOTONIC); in a core file, to each thread's loop's last look
# at the clock before the core was taken.  It never writes to the process: a task's
# registers reach gdb's unwinder through a Python unwinder that stands in
# for the caller of frame 0 while weft-bt runs, then steps aside.

import time

import gdb
from gdb.unwinder import Unwinder, register_unwinder

try:
    from gdb.unwinder import FrameId
except ImportError:             # gdb before 14: any object with sp and pc
    class FrameId:
        def __init__(self, sp, pc):
            self.sp = sp
            self.pc = pc

STATES = {1: "ready", 2: "running", 3: "parked", 4: "finished, not joined",
          5: "left by fork"}

WAITS = ["", "sleep", "read", "write", "accept", "connect", "poll",
         "channel send", "channel receive", "select", "mutex", "rwlock",
         "condition variable", "semaphore", "wait group", "join", "group",
         "fetch", "offload", "child process", "signal"]


def _ptr(v):
    return int(v.cast(gdb.lookup_type("unsigned long")))


def _container(link, type_name, field):
    t = gdb.lookup_type(type_name)
    off = [f for f in t.fields() if f.name == field][0].bitpos // 8
    addr = _ptr(link) - off
    return gdb.Value(addr).cast(t.pointer()).dereference()


def runtimes():
    reg = gdb.parse_and_eval("weft__registry")
    link = reg["first"]
    while _ptr(link):
        yield _container(link, "struct weft_rt", "dbg_link")
        link = link["next"]


def tasks(rt):
    yield rt["sched"]["main_task"], True
    chunk = rt["tasks"]["chunks"]
    n = int(gdb.parse_and_eval("sizeof(((struct weft__task_chunk *)0)->tasks)"
                               " / sizeof(struct weft_task)"))
    while _ptr(chunk):
        for i in range(n):
            t = chunk["tasks"][i]
            if int(t["state"]) != 0:
                yield t, False
        chunk = chunk["next"]


def _symbol(addr):
    if not addr:
        return "?"
    try:
        b = gdb.block_for_pc(addr)
        while b and not b.function:
            b = b.superblock
        if b and b.function:
            off = addr - b.start
            return b.function.print_name + ("+%#x" % off if off else "")
    except RuntimeError:
        pass
    s = gdb.execute("info symbol %#x" % addr, to_string=True).split()
    return s[0] + ("+" + s[2] if len(s) > 2 and s[1] == "+" else "") \
        if s and not s[0].startswith("No") else "%#x" % addr


def describe(t):
    note = t["note"]
    kind = int(note["kind"])
    a, b = int(note["a"]), int(note["b"])
    obj = _ptr(note["obj"])
    name = WAITS[kind] if kind < len(WAITS) else "?"
    if kind == 1:
        if _is_core():
            return "sleep"
        return "sleep, %.3f s left" % ((a - time.monotonic_ns()) / 1e9)
    if kind in (2, 3, 4, 5):
        return "%s on fd %d" % (name, a)
    if kind == 6:
        return "poll on %d fds (the first fd %d)" % (a, b)
    if kind == 9:
        return "select over %d cases" % a
    if kind == 11:
        return "rwlock %#x, to %s" % (obj, "write" if a else "read")
    if kind == 16:
        return "group %#x (%d members)" % (obj, a)
    if kind in (7, 8):
        return "%s on %#x (length %d, capacity %d)" % (name, obj, a, b)
    if kind == 10:
        owner = gdb.Value(b & (2**64 - 1)).cast(
            gdb.lookup_type("struct weft_task").pointer())
        oid = int(owner["id"]) if b else 0
        return "mutex %#x, held by task %d" % (obj, oid) if oid else \
            "mutex %#x, held outside tasks" % obj
    if kind == 15:
        return "join of task %d" % a if a else "weft_run, for every task"
    if kind == 17:
        try:
            url = note["obj"].cast(gdb.lookup_type("char").pointer()) \
                .string(length=256)
        except gdb.error:
            url = "?"
        return "fetch of " + url
    if kind == 18:
        return "offloaded " + _symbol(obj)
    if kind in (19, 20):
        return "%s, fd %d" % (name, a)
    return "%s %#x" % (name, obj) if obj else name


def _stack(t):
    s = t["stack"]
    if not _ptr(s) or int(s["kind"]) == 0:
        return None
    size = _ptr(s) - _ptr(s["lo"])
    low = int(s["low_sp"])
    used = _ptr(s) - low if low and low < _ptr(s) else 0
    return size, used


def _is_core():
    conn = getattr(gdb.selected_inferior(), "connection", None)
    return conn is not None and conn.type == "core"


class InfoWeftTasks(gdb.Command):
    """List weft's tasks: info weft-tasks"""

    def __init__(self):
        super().__init__("info weft-tasks", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        core = _is_core()
        for rt in runtimes():
            now = int(rt["view"]["clock"]) if core else time.monotonic_ns()
            live = int(rt["tasks"]["live"])
            gdb.write("thread %d: main and %d tasks%s\n" %
                      (int(rt["tid"]), live,
                       " (times to its last look at the clock)" if core
                       else ""))
            for t, is_main in tasks(rt):
                state = int(t["state"])
                who = "main (the thread's own stack)" if is_main else \
                    "task %d%s" % (int(t["id"]), " \"%s\"" %
                                   t["name"].string() if int(t["name"][0])
                                   else "")
                line = "  %s: %s" % (who, STATES.get(state, "?"))
                if state == 3 and int(t["note"]["kind"]):
                    waited = (now - int(t["note"]["since"])) / 1e9
                    line += " for %.3f s: %s" % (waited, describe(t))
                gdb.write(line + "\n")
                st = _stack(t)
                if not is_main and st:
                    gdb.write("    runs %s, spawned at %s; stack %d KiB, "
                              "deepest use seen %d KiB\n" %
                              (_symbol(_ptr(t["entry"])),
                               _symbol(_ptr(t["spawn_pc"])), st[0] // 1024,
                               (st[1] + 1023) // 1024))


class TaskUnwinder(Unwinder):
    """Stands in for frame 0's caller with a task's saved registers."""

    def __init__(self):
        super().__init__("weft-task")
        self.regs = None

    def __call__(self, pending):
        if self.regs is None or pending.level() != 0:
            return None
        pc = pending.read_register("rip")
        # gdb stops a backtrace whose next frame lies below the one
        # before it, as a task's stack may lie below the thread's: say
        # frame 0 stands just below the task's stack pointer.
        long_t = gdb.lookup_type("unsigned long")
        sp = gdb.Value(self.regs["rsp"] - 64).cast(long_t)
        info = pending.create_unwind_info(FrameId(sp, pc))
        for reg, val in self.regs.items():
            info.add_saved_register(reg, gdb.Value(val).cast(long_t))
        return info


_unwinder = TaskUnwinder()
register_unwinder(None, _unwinder, replace=True)


def saved_regs(t):
    """The registers the task was switched out with, or None."""
    ctx = t["stack"]["ctx"]
    fields = [f.name for f in ctx.type.fields()]
    ulong = gdb.lookup_type("unsigned long").pointer()
    if "sp" in fields:                      # the asm switch
        sp = _ptr(ctx["sp"])
        if not sp:
            return None
        w = gdb.Value(sp).cast(ulong)
        vals = [int(w[i]) for i in range(7)]
        return {"r15": vals[0], "r14": vals[1], "r13": vals[2],
                "r12": vals[3], "rbx": vals[4], "rbp": vals[5],
                "rip": vals[6], "rsp": sp + 56}
    if "uc" in fields:                      # swapcontext
        g = ctx["uc"]["uc_mcontext"]["gregs"]
        idx = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10,
               "rbx": 11, "rsp": 15, "rip": 16}
        return {r: int(g[i]) & (2**64 - 1) for r, i in idx.items()}
    return None                             # jmp: glibc mangles them


class WeftBt(gdb.Command):
    """Backtrace of a parked weft task: weft-bt ID"""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        want = int(gdb.parse_and_eval(arg)) if arg else -1
        for rt in runtimes():
            for t, is_main in tasks(rt):
                if is_main or int(t["id"]) != want:
                    continue
                if int(t["state"]) == 2:
                    gdb.write("task %d runs: see its thread's bt\n" % want)
                    return
                if int(t["stack"]["ctx"]["fresh"]):
                    gdb.write("task %d has not run yet\n" % want)
                    return
                regs = saved_regs(t)
                if not regs:
                    gdb.write("task %d has no saved registers\n" % want)
                    return
                _unwinder.regs = regs
                gdb.invalidate_cached_frames()
                try:
                    out = gdb.execute("bt", to_string=True)
                finally:
                    _unwinder.regs = None
                    gdb.invalidate_cached_frames()
                # Frame 0 is the thread's own; the task starts at #1.
                for line in out.splitlines()[1:]:
                    gdb.write(line + "\n")
                return
        gdb.write("no task %d\n" % want)


InfoWeftTasks()
WeftBt()
