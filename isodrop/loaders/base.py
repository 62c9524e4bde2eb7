"""The boot loader unit interface (stub after COMMON.md; h0's isodrop/loaders/base.py replaces it)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import ClassVar

from isodrop.config import Config
from isodrop.render.menu import Menu, _environment


class Loader(ABC):
    name: ClassVar[str]  # config name: "pxelinux", "syslinux-efi", "grub", "ipxe" ...
    firmware: ClassVar[str]  # client firmware whose menu it serves: "bios" or "efi64"
    template: ClassVar[str]  # jinja2 template file in isodrop/templates/ (overridable from templates_dir)

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        """Files it needs in the TFTP root: destination (relative to tftp_root) -> source file."""

    @abstractmethod
    def boot_file(self) -> PurePosixPath:
        """What dnsmasq hands to the client."""

    @abstractmethod
    def render(self, menu: Menu) -> dict[PurePosixPath, str]:
        """Pure: menu file text by path relative to tftp_root."""

    @staticmethod
    @abstractmethod
    def quote(text: str) -> str:
        """Escape untrusted text for this menu language."""

    def environment(self):  # type: ignore[no-untyped-def]
        return _environment(self.config.templates_dir)
