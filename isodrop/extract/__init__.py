"""Turn an ISO image into a safe, world-readable tree on disk (and look inside one without extracting).

Two rooms: reading the image (image.py: open and validate, walk into a checked manifest (manifest.py), with
the name policy in names.py, symlink containment in links.py and md5sum.txt in checksums.py; isotree.py
shows a manifest as a families `Tree`) and writing the tree (write.py: copier, progress, md5 check).
The ISO is untrusted input: every failure, whatever the image holds, is one `ExtractError`.
"""

from isodrop.extract.errors import ExtractError, ExtractResult
from isodrop.extract.image import checked_iso
from isodrop.extract.isotree import IsoTree
from isodrop.extract.write import extract_iso

__all__ = ["ExtractError", "ExtractResult", "IsoTree", "checked_iso", "extract_iso"]
