"""Hardware specs: frozen records and the one loader that reads TOML presets and validates them."""

from hwsim.spec.loader import (
    build_record,
    check_table,
    hardware_summary,
    list_hardware,
    load_hardware,
)
from hwsim.spec.records import (
    COMPONENTS,
    DspCore,
    FpgaDevice,
    Gpu,
    Hardware,
    LstmAccelerator,
    LutCore,
    SystolicArray,
)

__all__ = ["COMPONENTS", "DspCore", "FpgaDevice", "Gpu", "Hardware", "LstmAccelerator", "LutCore",
           "SystolicArray", "build_record", "check_table", "hardware_summary", "list_hardware",
           "load_hardware"]
