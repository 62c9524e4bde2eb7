from isodrop.vendorchain import VendorChain


def test_a_chain_survives_its_record() -> None:
    chain = VendorChain(
        "Test Vendor CA", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("EFI/BOOT", "efi64"), True, "r"
    )
    assert VendorChain.from_dict(chain.to_dict()) == chain
    assert chain.to_dict()["config_dirs"] == ["EFI/BOOT", "efi64"]
