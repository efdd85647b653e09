// See run_dir.h.
#include "run_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace xdpwg {

std::string EnsurePrivateDir(const char* dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return std::string("cannot create ") + dir + ": " + strerror(errno);
  // Checked and fixed through one descriptor of the directory itself, so what
  // is checked is what is fixed (no swap between a stat and a chmod).
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR) return std::string(dir) + " is not a directory (a symlink?); remove it";
    return std::string("cannot open ") + dir + ": " + strerror(err);
  }
  struct stat st = {};
  std::string why;
  if (fstat(fd, &st) != 0) {
    why = std::string("cannot stat ") + dir + ": " + strerror(errno);
  } else if (st.st_uid != geteuid()) {
    why = std::string(dir) + " is owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " + std::to_string(geteuid()) +
          "; refusing to keep locks there (remove it)";
  } else if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0) {
    why = std::string("cannot make ") + dir + " private (chmod 0700): " + strerror(errno);
  }
  close(fd);
  return why;
}

int OpenPrivateFile(const std::string& path, bool create, std::string* why) {
  // O_NONBLOCK: a FIFO under this name (left from when the directory was not
  // private) must not block the open; it is refused below as not a regular file.
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0600);
  if (fd < 0) {
    int err = errno;
    *why = "cannot open " + path + ": " + strerror(err);
    return -err;
  }
  struct stat st = {};
  int err = 0;
  if (fstat(fd, &st) != 0) {
    err = errno;
    *why = "cannot stat " + path + ": " + strerror(err);
  } else if (!S_ISREG(st.st_mode)) {
    err = EINVAL;
    *why = path + " is not a regular file; remove it";
  } else if (st.st_uid != geteuid()) {
    err = EPERM;
    *why = path + " is owned by uid " + std::to_string(st.st_uid) + ", not by us; refusing it (remove it)";
  } else if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
    err = errno;
    *why = "cannot make " + path + " private (chmod 0600): " + strerror(err);
  }
  if (err) {
    close(fd);
    return -err;
  }
  return fd;
}

int LockWithin(int fd, int timeout_ms) {
  struct timespec start = {}, now = {};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno != EWOULDBLOCK && errno != EINTR) return -errno;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (waited_ms >= timeout_ms) return -ETIMEDOUT;
    struct timespec step = {0, 20 * 1000 * 1000};  // a holder attaching takes far longer than this
    nanosleep(&step, nullptr);
  }
}

}  // namespace xdpwg
