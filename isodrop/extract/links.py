"""Symlink containment: a Rock Ridge symlink is kept only when the kernel, following it (and any
links on its way), would stay inside the tree. Decided on the manifest, before anything is written."""

from __future__ import annotations

from collections import deque

from isodrop.extract.errors import MAX_FOLLOW_STEPS, MAX_SYMLINK_HOPS, MAX_SYMLINK_TARGET, ExtractError


class Links:
    """The manifest's symlinks ({rel: target}), followed with one step budget for the whole image."""

    def __init__(self, targets: dict[str, str], iso_name: str) -> None:
        self.targets = targets
        self.iso_name = iso_name
        self.steps = 0

    def problem(self, link: str) -> str | None:
        """Why following `link` could leave the tree or is not a valid link; None when it cannot."""
        target = self.targets[link]
        if "\0" in target:
            return "target contains a NUL byte"
        if len(target.encode("utf-8", "surrogateescape")) > MAX_SYMLINK_TARGET:
            return f"target longer than {MAX_SYMLINK_TARGET} bytes"
        if target == "":
            return "empty target"
        if target.startswith("/"):
            return "absolute target"
        return self.follow(link.split("/")[:-1], target)[1]

    def resolve(self, rel: str) -> str | None:
        """`rel` with the links in it followed; None when it leaves the tree or loops."""
        resolved, problem = self.follow([], rel)
        return None if problem is not None else resolved

    def follow(self, base: list[str], path: str) -> tuple[str, str | None]:
        """Walk `path` from folder `base` as the kernel would: (where it ends, None), or ("", why it leaves
        the tree or loops)."""
        here = list(base)
        todo = deque(path.split("/"))
        hops = 0
        while todo:
            self.steps += 1
            if self.steps > MAX_FOLLOW_STEPS:
                raise ExtractError(
                    f"symlinks in {self.iso_name} take too long to resolve (more than "
                    f"{MAX_FOLLOW_STEPS} steps): refusing to extract"
                )
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not here:
                    return "", "target is outside the tree"
                here.pop()
                continue
            here.append(part)
            target = self.targets.get("/".join(here))
            if target is None:
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return "", "symlink loop"
            if target.startswith("/"):
                return "", f"goes through {'/'.join(here)}, which has an absolute target"
            here.pop()
            todo.extendleft(reversed(target.split("/")))
        return "/".join(here), None
