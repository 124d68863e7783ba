/* LD_PRELOAD shim for the lab only (never shipped, never in dom0): lets the vendor tapdisk start
 * in a container that lacks CAP_SYS_RESOURCE. At start tapdisk raises RLIMIT_MEMLOCK to infinity
 * and calls mlockall(MCL_CURRENT | MCL_FUTURE) so dom0 never pages it out; here the hard limit is
 * 8 MiB, the raise fails with EPERM and tapdisk exits (status 1) before it opens its control
 * socket. The shim makes exactly that raise, and mlockall, report success without doing them;
 * every other setrlimit goes to libc. Nothing on the I/O path changes (the lab has no swap). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/resource.h>

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim)
{
	int (*real)(__rlimit_resource_t, const struct rlimit *);

	if (resource == RLIMIT_MEMLOCK)
		return 0;
	real = (int (*)(__rlimit_resource_t, const struct rlimit *))dlsym(RTLD_NEXT, "setrlimit");
	return real(resource, rlim);
}

int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rlim)
{
	int (*real)(__rlimit_resource_t, const struct rlimit64 *);

	if (resource == RLIMIT_MEMLOCK)
		return 0;
	real = (int (*)(__rlimit_resource_t, const struct rlimit64 *))dlsym(RTLD_NEXT, "setrlimit64");
	return real(resource, rlim);
}

int mlockall(int flags)
{
	(void)flags;
	return 0;
}
