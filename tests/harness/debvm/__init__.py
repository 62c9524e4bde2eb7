"""Harness for tests/system/test_deb_vm.py: a Debian 12 root file system built with debootstrap (cached), the
isodrop .deb installed into a copy of it, and QEMU VMs driven over their serial console."""
