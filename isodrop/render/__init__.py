"""Render what is served into the files other programs read: boot menus and NFS exports."""
