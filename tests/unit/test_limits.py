"""isodrop.limits: the bounds of a kernel command line and of a path inside a tree, exact at the edge."""

from __future__ import annotations

from isodrop.limits import (
    CONSOLE_RESERVE,
    KERNEL_COMMAND_LINE_MAX,
    TREE_PATH_MAX,
    TREE_PLACE_MAX,
    command_line_problem,
    loader_reserve,
    path_problem,
)


def test_a_command_line_is_refused_one_byte_past_the_kernels_limit_counting_what_is_added() -> None:
    fits = "a" * (KERNEL_COMMAND_LINE_MAX - CONSOLE_RESERVE)
    assert command_line_problem(fits) is None
    problem = command_line_problem(fits + "a")
    assert f"is {KERNEL_COMMAND_LINE_MAX + 1} bytes" in problem and f"counting {CONSOLE_RESERVE}" in problem
    assert command_line_problem("é" * 1000, reserve=48) is not None  # 2000 bytes in UTF-8, not 1000 characters


def test_paths_are_counted_in_bytes() -> None:
    assert path_problem("kernel", "k" * TREE_PATH_MAX) is None
    assert (
        path_problem("initrd", "é" * 128)
        == "initrd path is 256 bytes, over isodrop's 255-byte limit (a TFTP request is 512 bytes)"
    )


def test_the_loaders_reserve_grows_with_the_kernel_path_and_every_initrd() -> None:
    bare = loader_reserve("vmlinuz", ())
    assert bare == len(" BOOT_IMAGE=") + TREE_PLACE_MAX + len("vmlinuz")
    one = loader_reserve("vmlinuz", ("initrd.img",))
    two = loader_reserve("vmlinuz", ("initrd.img", "ucode.img"))
    assert one - bare == len(" initrd=") + TREE_PLACE_MAX + len("initrd.img") + 1
    assert two - one == TREE_PLACE_MAX + len("ucode.img") + 1
