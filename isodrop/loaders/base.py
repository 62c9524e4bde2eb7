"""Stub of the shared Loader interface (COMMON.md); h0's real one replaces this file."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import ClassVar

from isodrop.config import Config
from isodrop.render.menu import Menu


class Loader(ABC):
    name: ClassVar[str]
    firmware: ClassVar[str]
    template: ClassVar[str]

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def files(self, config: Config) -> dict[PurePosixPath, Path]: ...

    @abstractmethod
    def boot_file(self) -> PurePosixPath: ...

    @abstractmethod
    def render(self, menu: Menu) -> dict[PurePosixPath, str]: ...

    @staticmethod
    @abstractmethod
    def quote(text: str) -> str: ...
