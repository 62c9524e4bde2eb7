"""See it boot: one BIOS PC network-boots an ISO dropped into a running `isodrop serve`.

Everything runs inside a private network namespace (nothing reaches your LAN) and is stopped at the
end. Run by contrib/see-it-boot.sh after it installed the Debian packages; as root, from the repository:
`python3 -m tests.harness.e2e.demo [--uefi] [--iso FILE.iso]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.harness.e2e.liveiso import MARKER_PREFIX, build_iso
from tests.harness.e2e.servers import DHCP_SNIPPET
from tests.harness.e2e.stack import running_stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, BootFailed


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uefi", action="store_true", help="boot with OVMF through shim + GRUB")
    parser.add_argument("--iso", type=Path, help="drop this ISO instead of the built test live ISO")
    args = parser.parse_args(argv)

    if args.iso:
        iso_path, marker = args.iso.resolve(), ""
    else:
        say("Building the test live ISO from Debian's packages (cached after the first time)")
        live = build_iso("isodrop-demo-live")
        iso_path, marker = live.path, live.marker
    say("Starting dnsmasq, rpcbind + nfs-ganesha and isodrop serve in a private network namespace")
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default=iso_path.name, menu_timeout=50) as stack:
        say(f"Dropping {iso_path.name} into {stack.service.drop}")
        started = time.monotonic()
        slug = stack.drop(iso_path)
        say(f"Served as menu entry {slug!r} after {time.monotonic() - started:.1f} s; booting a QEMU PC now")
        firmware = "uefi" if args.uefi else "bios"
        # UEFI: OVMF's own PXE stack, as on a real PC (shim cannot fetch GRUB through QEMU's iPXE ROM).
        options = {"firmware_pxe": True} if args.uefi else {}
        vm = stack.vm(firmware, name=f"demo-{firmware}", echo=True, **options)
        try:
            wanted = marker or MARKER_PREFIX
            seconds = vm.wait_for(wanted, MAX_BOOT_SECONDS, BOOT_FAILURES) if marker else None
            if seconds is None:
                say("A foreign ISO has no marker to wait for: showing its console for 120 s")
                time.sleep(120)
            else:
                say(f"The live system on the NFS root printed its marker {seconds:.0f} s after the VM started")
        except (BootFailed, TimeoutError) as exc:
            say(f"The boot did not reach the live system: {str(exc).splitlines()[0]}")
            say(f"Logs: {stack.work}")
            return 1
        finally:
            vm.close()
        say(f"Done; everything stopped. Logs: {stack.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
