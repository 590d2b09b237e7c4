#!/usr/bin/env python3
# A tree with everything a container image may hold, and a manifest of a
# tree to compare two of them: for every entry its type and mode, owner,
# modification time, size and content, device numbers, link target, every
# extended attribute (ACLs are the system.posix_acl_* ones) and which
# entries are hard links of one another. Written with Python's standard
# library, independently of the code under test.
#
#   tree-manifest.py build ROOT      make the tree at ROOT (as root)
#   tree-manifest.py manifest ROOT   print ROOT's manifest as JSON
import hashlib
import json
import os
import socket
import stat
import struct
import sys

# ACL_USER_OBJ rw-, ACL_USER 1000 r--, ACL_GROUP_OBJ r--, ACL_MASK r--, ACL_OTHER r-- (the kernel's xattr layout, version 2).
ACL = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, perm, ident) for tag, perm, ident in [
    (0x01, 6, 0xffffffff), (0x02, 4, 1000), (0x04, 4, 0xffffffff), (0x10, 4, 0xffffffff), (0x20, 4, 0xffffffff)])
WHEN = 1_600_000_000_123_456_789


def build(root):
    os.makedirs(f'{root}/etc/deep/er', exist_ok=True)
    with open(f'{root}/etc/data', 'wb') as f:
        f.write(os.urandom(300_000))
    with open(f'{root}/etc/deep/er/small', 'w') as f:
        f.write('small\n')
    os.chown(f'{root}/etc/deep/er/small', 1234, 5678)
    os.chmod(f'{root}/etc/deep/er/small', 0o4751)
    os.setxattr(f'{root}/etc/data', 'user.machined', b'a value')
    os.setxattr(f'{root}/etc/data', 'system.posix_acl_access', ACL)
    os.link(f'{root}/etc/data', f'{root}/etc/deep/hardlink')
    os.symlink('../data', f'{root}/etc/deep/link')
    os.symlink('/nowhere/at/all', f'{root}/etc/dangling')
    os.mknod(f'{root}/etc/null', 0o620 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(f'{root}/etc/disk', 0o600 | stat.S_IFBLK, os.makedev(7, 200))
    os.mkfifo(f'{root}/etc/fifo', 0o640)
    s = socket.socket(socket.AF_UNIX)
    s.bind(f'{root}/etc/socket')
    s.close()
    os.makedirs(f'{root}/empty', mode=0o1777)
    os.chmod(f'{root}/empty', 0o1777)
    os.chown(f'{root}/empty', 42, 43)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(WHEN, WHEN), follow_symlinks=False)
    os.utime(root, ns=(WHEN, WHEN))


def manifest(root):
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + dirnames) + ([''] if dirpath == root else []):
            path = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            entry = {'mode': oct(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid, 'mtime': st.st_mtime_ns, 'xattrs': {}}
            if stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as f:
                    entry['sha256'] = hashlib.sha256(f.read()).hexdigest()
                key = (st.st_dev, st.st_ino)
                entry['links'] = inodes.setdefault(key, rel)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry['rdev'] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
            if stat.S_ISLNK(st.st_mode):
                entry['target'] = os.readlink(path)
            else:
                for attr in sorted(os.listxattr(path, follow_symlinks=False)):
                    entry['xattrs'][attr] = os.getxattr(path, attr, follow_symlinks=False).hex()
            out[rel] = entry
    return out


if __name__ == '__main__':
    if sys.argv[1] == 'build':
        build(sys.argv[2])
    else:
        print(json.dumps(manifest(sys.argv[2]), sort_keys=True))
