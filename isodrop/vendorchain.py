"""An ISO's own Secure Boot chain: its vendor's shim and GRUB in `EFI/BOOT/`, served so a PC can run them.

Debian's shim trusts only Debian's key, so a kernel Canonical or Fedora signed is refused through the chain
isodrop's menu runs. A PC can still boot such an ISO with Secure Boot on if its firmware starts that ISO's
own shim (signed through Microsoft's UEFI CA, which the firmware trusts), that shim runs the ISO's GRUB
(signed by the vendor), and that GRUB reads its menu and the kernel from the network. `VendorChain` is
what was found on one ISO: paths are relative to its tree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class VendorChain:
    """The ISO's own chain, as found in its tree; `usable` says whether a PC can boot the entry through it,
    `reason` says why (or why not) in the words status and inspect show."""

    vendor: str  # the common name of the certificate built into the ISO's shim ("Fedora Secure Boot CA")
    shim: str  # "EFI/BOOT/BOOTX64.EFI"
    grub: str  # "EFI/BOOT/grubx64.efi"
    manager: str  # "EFI/BOOT/mmx64.efi" or "" (MokManager, run by shim when a second stage is refused)
    config_dirs: tuple[str, ...]  # where that GRUB looks for grub.cfg over TFTP, relative to the TFTP root
    usable: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config_dirs"] = list(self.config_dirs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VendorChain:
        return cls(**{**data, "config_dirs": tuple(data["config_dirs"])})
