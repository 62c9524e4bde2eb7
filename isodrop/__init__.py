"""isodrop: drop a Linux live ISO into a folder, network-boot it over PXE and NFS.

The pipeline, one module (or package) per step:
watch -> reconcile -> extract -> recognise (families/) -> render -> effects (notify).
"""

__version__ = "0.2.0"
