// The daemon's private state directory (/run/xdpwg) and the lock files in it.
//
// Everything under /run/xdpwg is root's alone: a lock file anyone can open is
// a lock anyone can hold (flock() needs no write access), and a held lock
// either stalls whoever waits for it or makes a dead owner look alive. So the
// directory is 0700 and owned by us, its files 0600 and owned by us, and no
// lock is waited on without a deadline.
#pragma once
#include <string>

namespace xdpwg {

constexpr const char* kRunDir = "/run/xdpwg";
/** The longest a lock is waited for before the caller gives up with an error. */
constexpr int kLockWaitMs = 10000;

/**
 * Makes `dir` a directory owned by this process's user with mode 0700:
 * creates it, or tightens the mode of one that exists (older versions made it
 * 0755). Refuses a symlink or a directory owned by someone else (its files may
 * have been planted). Returns "" on success, else why not.
 */
std::string EnsurePrivateDir(const char* dir);

/**
 * Opens a lock file read-write (O_NOFOLLOW, O_CLOEXEC), creating it 0600 when
 * `create`. An existing file must be a regular file owned by us; its mode is
 * tightened to 0600 if looser. Returns the fd, or -errno with `*why` set.
 */
int OpenPrivateFile(const std::string& path, bool create, std::string* why);

/**
 * flock(LOCK_EX) waiting at most `timeout_ms` (polling LOCK_NB, so the wait is
 * bounded whatever the holder does). Returns 0, -ETIMEDOUT, or -errno.
 */
int LockWithin(int fd, int timeout_ms);

}  // namespace xdpwg
