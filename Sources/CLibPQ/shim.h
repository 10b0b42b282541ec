#ifndef DSRD_CLIBPQ_SHIM_H
#define DSRD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>
#endif
