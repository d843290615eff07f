"""Frozen hardware spec records. Only ``hwsim.spec.loader`` reads files; these only validate.

Units are in the field names. Every record validates all its fields in ``__post_init__`` and
raises one :class:`~hwsim.errors.SpecError` listing every problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import Checker, SpecError

# Upper bounds. Every value a record holds ends up in int64 / float64 arithmetic inside the numba
# kernels; these bounds are far beyond any real device (so no preset is ever refused) yet keep
# every product the cost models form finite and inside int64. NaN and infinities are refused.

MAX_COUNT = 2**31
"""Resource counts, buffer depths, SRAM sizes, PE / bank / SM counts: the largest FPGA (AMD
Versal VP1902) has about 2**24 LUTs and 2**25 flip-flops; a buffer of 2**31 entries would be
gigabytes of on-chip memory. Two such values multiply to < 2**63."""

MAX_ARRAY_DIM = 2**16
"""Edge of a compute array (DSP block rows/cols, BISMO Dm/Dk/Dn, systolic rows/cols): real
arrays are at most a few hundred a side (TPU: 128 or 256). Three edges and a bit width still
multiply to < 2**63."""

MAX_CLOCK_MHZ = 10_000.0
"""10 GHz: no clocked silicon runs faster (the fastest CPUs boost to about 6 GHz, FPGA fabric to
about 1 GHz)."""

MAX_DRAM_BYTES_PER_CYCLE = 1e6
"""HBM3e's 5 TB/s at a 100 MHz fabric clock is 5e4 bytes/cycle; 1e6 leaves 20x headroom."""

MAX_TFLOPS = 1e6
"""Peak throughput of one GPU in TFLOP/s: the largest today is about 2e4 (FP4); 1e6 is 50x."""

MAX_MEMORY_GBPS = 1e6
"""GPU memory bandwidth in GB/s: about 8e3 today; 1e6 is over 100x."""

MAX_MEMORY_GIB = 1e6
"""GPU memory in GiB: about 200 today; 1e6 GiB is a petabyte."""

MAX_LAUNCH_US = 1e6
"""Kernel launch overhead in us: a few us on desktop GPUs; a second is far beyond any."""

MAX_AREA_MM2 = 1e5
"""Die area in mm^2: a whole 300 mm wafer (Cerebras WSE) is about 4.6e4 mm^2."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ints(
    c: Checker, obj: object, names: tuple[str, ...], minimum: int, maximum: int = MAX_COUNT
) -> None:
    for name in names:
        value = getattr(obj, name)
        ok = _is_int(value) and minimum <= value <= maximum
        c.require(ok, name, value, f"must be an int in [{minimum}, {maximum}]")


def _check_floats(c: Checker, obj: object, bounds: dict[str, float]) -> None:
    """Each named field a finite number in ``(0, bound]`` (NaN and infinities refused)."""
    for name, maximum in bounds.items():
        value = getattr(obj, name)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and 0 < value <= maximum)  # false for NaN; inf > maximum
        c.require(ok, name, value, f"must be a finite number in (0, {maximum:g}]")


@dataclass(frozen=True, slots=True)
class FpgaDevice:
    """An FPGA part on a board: resource limits, fabric clock and DRAM bandwidth.

    Resource counts come from the vendor's product tables (cited per preset).
    """

    part: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int = 0
    clock_mhz: float = 100.0
    dram_bytes_per_cycle: float = 8.0  # at clock_mhz; 64-bit AXI HP port = 8 bytes/cycle

    def __post_init__(self) -> None:
        c = Checker()
        c.require(isinstance(self.part, str) and bool(self.part), "part", self.part,
                  "must be a non-empty string")
        _check_ints(c, self, ("lut", "ff", "dsp", "bram36"), 1)
        _check_ints(c, self, ("uram",), 0)
        _check_floats(c, self, {"clock_mhz": MAX_CLOCK_MHZ,
                                "dram_bytes_per_cycle": MAX_DRAM_BYTES_PER_CYCLE})
        c.raise_if_any(SpecError, "FpgaDevice")


@dataclass(frozen=True, slots=True)
class DspCore:
    """DSP-based GEMM core: a ``block_rows x block_cols`` block of MACs (16x16 in N3H-Core, after
    TVM's VTA), input buffer ``input_buffer_depth`` (Dl) and weight buffer ``weight_buffer_depth``
    (Dr) entries deep. Weights are 8-bit; with activations of at most ``pack_act_bits`` bits two
    MACs share one DSP slice (REFERENCE.md section 2), which doubles the reduction depth of a
    block (N3H-Core's ``T_k = ceil(k/32)``). A block takes ``cycles_per_block`` cycles (2 in
    N3H-Core's ``EX`` term), so the core needs ``rows*cols/cycles_per_block`` DSP slices at any
    activation width: 128 for the 16x16 block, as REFERENCE.md section 2 states for W8A4.
    """

    block_rows: int = 16
    block_cols: int = 16
    input_buffer_depth: int = 2048
    weight_buffer_depth: int = 1024
    weight_bits: int = 8
    pack_act_bits: int = 4
    macs_per_dsp_packed: int = 2
    cycles_per_block: int = 2  # N3H-Core's EX term: 2 cycles per (pixel, block, k-tile)

    def __post_init__(self) -> None:
        c = Checker()
        _check_ints(c, self, ("block_rows", "block_cols"), 1, MAX_ARRAY_DIM)
        _check_ints(c, self, ("input_buffer_depth", "weight_buffer_depth", "macs_per_dsp_packed",
                              "cycles_per_block"), 1)
        _check_ints(c, self, ("weight_bits",), 1, 16)
        _check_ints(c, self, ("pack_act_bits",), 0, 16)
        c.raise_if_any(SpecError, "DspCore")


@dataclass(frozen=True, slots=True)
class LutCore:
    """BISMO-style bit-serial GEMM array ``rows x depth_bits x cols`` (Dm x Dk x Dn),
    Umuroglu et al. FPL'18; activation buffer ``act_buffer_depth`` (LMEM) and weight buffer
    ``weight_buffer_depth`` entries deep; DRAM word ``dram_bits_per_cycle`` (f = 64).
    """

    rows: int = 8
    depth_bits: int = 128
    cols: int = 16
    act_buffer_depth: int = 1024
    weight_buffer_depth: int = 1024
    dram_bits_per_cycle: int = 64
    max_bits: int = 8

    def __post_init__(self) -> None:
        c = Checker()
        _check_ints(c, self, ("rows", "depth_bits", "cols"), 1, MAX_ARRAY_DIM)
        _check_ints(c, self, ("act_buffer_depth", "weight_buffer_depth", "dram_bits_per_cycle"),
                    1)
        _check_ints(c, self, ("max_bits",), 1, 16)
        if _is_int(self.depth_bits) and self.depth_bits % 64:
            c.add("depth_bits", self.depth_bits, "must be a multiple of 64 (BISMO's Dk)")
        c.raise_if_any(SpecError, "LutCore")


@dataclass(frozen=True, slots=True)
class SystolicArray:
    """Systolic-array ASIC (SCALE-Sim style): ``rows x cols`` PEs, on-chip SRAM per operand
    (double-buffered, as SCALE-Sim's scratchpads), dataflow ``ws`` / ``os`` / ``is``, DRAM
    bandwidth in bytes per cycle.

    :param bits: the PE's operand width (one SRAM word holds one operand of this width).
    :param bit_fusion: Bit Fusion PEs (Sharma et al., ISCA'18): a PE fuses 2/4/8-bit operands
        into more multiplies per cycle; without it every operand up to ``bits`` takes one
        multiply and wider ones take several passes.
    :param area_budget_mm2: the die area a design may use (a feasibility limit); ``None``: none.
    """

    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    ifmap_sram_kib: int = 256
    filter_sram_kib: int = 256
    ofmap_sram_kib: int = 128
    clock_mhz: float = 1000.0
    dram_bytes_per_cycle: float = 16.0
    bits: int = 8
    bit_fusion: bool = False
    area_budget_mm2: float | None = None

    def __post_init__(self) -> None:
        c = Checker()
        _check_ints(c, self, ("rows", "cols"), 1, MAX_ARRAY_DIM)
        _check_ints(c, self, ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"), 1)
        c.require(self.dataflow in ("ws", "os", "is"), "dataflow", self.dataflow,
                  "must be one of 'ws', 'os', 'is'")
        _check_floats(c, self, {"clock_mhz": MAX_CLOCK_MHZ,
                                "dram_bytes_per_cycle": MAX_DRAM_BYTES_PER_CYCLE})
        c.require(_is_int(self.bits) and self.bits in (2, 4, 8, 16), "bits", self.bits,
                  "must be 2, 4, 8 or 16 (the PE's operand width)")
        c.require(isinstance(self.bit_fusion, bool), "bit_fusion", self.bit_fusion,
                  "must be true or false")
        if self.area_budget_mm2 is not None:
            _check_floats(c, self, {"area_budget_mm2": MAX_AREA_MM2})
        if not c.problems:
            # each half of a double-buffered scratchpad holds one array row of operands, of up
            # to 16 bits (hwsim.asic.analytic.memory_costs)
            edge = max(self.rows, self.cols)
            for name in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"):
                kib = getattr(self, name)
                c.require(kib * 8192 >= 2 * edge * 16, name, kib,
                          f"is smaller than two rows of {edge} 16-bit words (double-buffered) "
                          f"for a {self.rows}x{self.cols} array")
        c.raise_if_any(SpecError, "SystolicArray")


@dataclass(frozen=True, slots=True)
class Gpu:
    """A GPU described by its peak throughput and memory bandwidth (roofline level); measured
    latency tables refine it. ``cost_models.gpu`` costs it; ``docs/gpu.md`` states the model.

    :param peak_tflops: FP32 peak (CUDA cores, FMA = 2 FLOP), TFLOP/s, from the vendor's sheet.
    :param peak_tflops_fp16: FP16 peak, TFLOP/s, dense (no structured sparsity): tensor cores
        where the GPU has them (the rate of the accumulate precision cuBLAS uses by default,
        FP32, stated per preset), else the CUDA cores' FP16 rate. ``None``: no FP16 path; FP16
        work runs at FP32.
    :param peak_tflops_int8: INT8 peak, TOPS (a MAC = 2 ops, as vendors count), dense. ``None``:
        no INT8 path; INT8 work runs at FP16 (or FP32 without FP16).
    :param clock_mhz: nominal clock (the boost clock in the presets); the cost model reports
        cycles = seconds x clock. It scales no throughput (the peaks already include it). Default
        1000 MHz for files that predate the field: a unit, not a device figure.
    :param launch_overhead_us: fixed cost of one kernel launch, us. Default 5 us: an assumption
        of the order of the CUDA launch latency usually quoted for desktop GPUs (a few us).
    :param compute_efficiency: fraction of the peak a real GEMM kernel reaches. Default 0.7: an
        assumption (well-shaped cuBLAS GEMMs reach 70-90 % of peak, small ones far less).
    :param memory_efficiency: fraction of the memory bandwidth a streaming kernel reaches.
        Default 0.8: an assumption (STREAM-like kernels reach about 80-90 % of the sheet figure).
    """

    model: str
    peak_tflops: float
    memory_gbps: float
    memory_gib: float
    sm_count: int = 1
    peak_tflops_fp16: float | None = None
    peak_tflops_int8: float | None = None
    clock_mhz: float = 1000.0
    launch_overhead_us: float = 5.0
    compute_efficiency: float = 0.7
    memory_efficiency: float = 0.8

    def __post_init__(self) -> None:
        c = Checker()
        c.require(isinstance(self.model, str) and bool(self.model), "model", self.model,
                  "must be a non-empty string")
        _check_floats(c, self, {"peak_tflops": MAX_TFLOPS, "memory_gbps": MAX_MEMORY_GBPS,
                                "memory_gib": MAX_MEMORY_GIB, "clock_mhz": MAX_CLOCK_MHZ})
        _check_floats(c, self, {name: MAX_TFLOPS for name in ("peak_tflops_fp16",
                                                               "peak_tflops_int8")
                                if getattr(self, name) is not None})
        _check_floats(c, self, {"compute_efficiency": 1.0, "memory_efficiency": 1.0})
        _check_ints(c, self, ("sm_count",), 1)
        value = self.launch_overhead_us
        c.require(isinstance(value, (int, float)) and not isinstance(value, bool)
                  and 0 <= value <= MAX_LAUNCH_US, "launch_overhead_us", value,
                  f"must be a finite number in [0, {MAX_LAUNCH_US:g}]")
        c.raise_if_any(SpecError, "Gpu")


@dataclass(frozen=True, slots=True)
class LstmAccelerator:
    """A TT/HT LSTM accelerator (TIE, ISCA'19; FDHT-LSTM, IEEE TC'22): ``pes`` processing
    elements of ``macs_per_pe`` multipliers, ``banks`` single- or multi-port working-memory
    banks, clock and area. ``style`` picks the schedule (``hwsim.lstm.accel``): ``tie``
    (stage by stage with an explicit transform pass) or ``fdht`` (transforms on the fly)."""

    style: str = "tie"
    pes: int = 16
    macs_per_pe: int = 16
    banks: int = 16
    bank_ports: int = 1
    clock_mhz: float = 1000.0
    area_mm2: float = 1.74
    bits: int = 16

    def __post_init__(self) -> None:
        c = Checker()
        c.require(self.style in ("tie", "fdht"), "style", self.style, "must be 'tie' or 'fdht'")
        _check_ints(c, self, ("pes", "macs_per_pe", "banks", "bank_ports"), 1, MAX_ARRAY_DIM)
        _check_floats(c, self, {"clock_mhz": MAX_CLOCK_MHZ, "area_mm2": MAX_AREA_MM2})
        _check_ints(c, self, ("bits",), 1, 32)
        c.raise_if_any(SpecError, "LstmAccelerator")


@dataclass(frozen=True, slots=True)
class Hardware:
    """A named hardware preset: any combination of the components above.

    ``fpga`` alone describes a board; ``fpga`` with ``dsp_core`` and ``lut_core`` describes an
    N3H-Core style heterogeneous accelerator on it.
    """

    name: str
    description: str = ""
    source: str = ""
    fpga: FpgaDevice | None = None
    dsp_core: DspCore | None = None
    lut_core: LutCore | None = None
    systolic_array: SystolicArray | None = None
    gpu: Gpu | None = None
    lstm_accelerator: LstmAccelerator | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.require(isinstance(self.name, str) and bool(self.name), "name", self.name,
                  "must be a non-empty string")
        components = tuple(COMPONENTS)
        c.require(any(getattr(self, n) is not None for n in components), "name", self.name,
                  f"a preset needs at least one of {', '.join(components)}")
        if (self.dsp_core or self.lut_core) and self.fpga is None:
            c.add("fpga", None, "dsp_core / lut_core need an [fpga] section to sit on")
        c.raise_if_any(SpecError, f"hardware {self.name!r}")


COMPONENTS: dict[str, type] = {
    "fpga": FpgaDevice,
    "dsp_core": DspCore,
    "lut_core": LutCore,
    "systolic_array": SystolicArray,
    "gpu": Gpu,
    "lstm_accelerator": LstmAccelerator,
}
"""TOML section name -> record class for each component a preset may hold."""
