/*
 * The listening socket of the hand-written echo servers: 127.0.0.1:port,
 * SO_REUSEADDR, a backlog of 1024; type adds socket(2) flags.  Exits
 * with a message on failure.
 */
#ifndef PEERS_C_LISTENER_H
#define PEERS_C_LISTENER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int listener(int port, int type, const char *who)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | type, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 1024)) {
		fprintf(stderr, "%s: listen on 127.0.0.1:%d: ", who, port);
		perror(NULL);
		exit(1);
	}
	return fd;
}

#endif
