"""FPGA resource model of N3H-Core's heterogeneous accelerator: LUT, FF, DSP, BRAM36 (and URAM).

What is published and what is estimated
---------------------------------------
* **BISMO array** (the LUT core's ``Dm x Dn`` dot-product units and their tile memories): BISMO's
  own cost model, a fit to its Vivado characterisation runs (Umuroglu, Rasnayake, Sjalander,
  "BISMO: A Scalable Bit-Serial Matrix Multiplication Overlay for Reconfigurable Computing",
  FPL'18; extended in Umuroglu et al., "Optimizing Bit-Serial Matrix Multiplication for
  Reconfigurable Computing", ACM TRETS 2019), as coded in the release
  (github.com/EECS-NTNU/bismo, ``src/main/scala/BISMO.scala``,
  ``BitSerialMatMulParams.estimateResources``)::

      LUT    = Dm*Dn*((1.17*Dk + 44.1) + 120.1)
      BRAM36 = ceil(Dk/32) * (Dm*ceil(lhs_entries/1024) + Dn*ceil(rhs_entries/1024))

  In the release ``1.17*Dk + 44.1`` is ``lut_per_dpu`` (the AND + popcount compressor, linear in
  Dk, and the shift/negate/accumulate stage) and ``120.1`` is ``lut_per_res``, the per-result
  cost each DPU brings to the result path. 8x128x16 with 1024-entry buffers: 40,187 LUT, 96
  BRAM36. The release divides integers before ``ceil`` (so 1500 entries count as one 1024-deep
  slice); we take the true ceiling, which never counts fewer BRAMs than the memory needs.
* **DSP slices**: ``rows*cols/cycles_per_block`` (see :func:`dsp_core_resources`); each slice
  does one 8-bit MAC per cycle, or ``macs_per_dsp_packed`` (two) 8-bit-weight MACs when the
  activations have at most ``pack_act_bits`` (4) bits, by
  sharing the multiplier between two products (Xilinx WP486, "Deep Learning with INT8
  Optimization on Xilinx Devices", for the DSP48E2's 27x18 multiplier; UG479 7-Series DSP48E1
  and UG579 UltraScale DSP48E2 user guides for the 25x18 / 27x18 multipliers the packing fits
  in). A 16x16 core: 128 DSPs.
* **BRAM mapping** of every other buffer: width x depth onto RAMB18 halves in their data-only
  aspect ratios 16Kx1, 8Kx2, 4Kx4, 2Kx8, 1Kx16, 512x32 (simple dual port), the cheapest one
  chosen, two RAMB18 per BRAM36 tile (Xilinx UG473, 7 Series FPGAs Memory Resources; UG573 for
  UltraScale). Parity bits are not counted as data, the same 32-bits-per-BRAM36 slice BISMO's
  estimator assumes; Vivado can save up to 1/9 by using them. No buffer is put in URAM.
* **Everything else is an estimate of ours**, each a named constant below with its reasoning:
  BISMO's fetch / result stages and control, the DSP core's adder trees, accumulators,
  requantisation, packing correction and control, and the platform shell. Each is good to
  about +-50%. Consequences: the LUT core's overheads are about 11% of its LUTs at 8x128x16,
  so its total is good to about +-6% on top of BISMO's fit; the DSP core's LUTs and FFs are
  estimates throughout (+-50%), while its DSP and BRAM36 counts follow exactly from the stated
  micro-architecture; the shell is +-50%. FF figures are estimates everywhere (+-50%) and rarely
  bind: 7-series and UltraScale slices hold two FFs per LUT. None of the estimates has been
  checked against a Vivado implementation of these cores.

Every function is pure; an over-budget design is reported by :func:`check_feasible`, never
raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Final

from hwsim.errors import Checker, RecordError, SpecError
from hwsim.spec.records import DspCore, FpgaDevice, LutCore

__all__ = [
    "BISMO_CONTROL",
    "BISMO_FETCH_STAGE",
    "BISMO_RESULT_STAGE",
    "DSP_CORE_CONTROL",
    "ZYNQ7_SHELL",
    "ZYNQMP_SHELL",
    "Resources",
    "bram36_for",
    "check_feasible",
    "dsp_core_resources",
    "lut_core_resources",
    "ramb18_for",
    "shell_resources",
    "total_resources",
    "utilisation",
]


@dataclass(frozen=True, slots=True)
class Resources:
    """FPGA resources used by a design or one of its parts.

    ``parts`` keeps the named contributions for reporting (``"lut_core/array"``, ``"shell"``,
    ...); it takes no part in equality, so two records with the same totals are equal.
    Add records with ``+``; name one with :meth:`labelled`; read the parts with
    :attr:`breakdown`.
    """

    lut: int = 0
    ff: int = 0
    dsp: int = 0
    bram36: int = 0
    uram: int = 0
    parts: tuple[tuple[str, Resources], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        c = Checker()
        for name in ("lut", "ff", "dsp", "bram36", "uram"):
            value = getattr(self, name)
            c.require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                name,
                value,
                "must be an int >= 0",
            )
        c.raise_if_any(RecordError, "Resources")

    def __add__(self, other: object) -> Resources:
        if not isinstance(other, Resources):
            return NotImplemented
        return Resources(
            lut=self.lut + other.lut,
            ff=self.ff + other.ff,
            dsp=self.dsp + other.dsp,
            bram36=self.bram36 + other.bram36,
            uram=self.uram + other.uram,
            parts=self._parts_for_sum() + other._parts_for_sum(),
        )

    def totals(self) -> Resources:
        """The same figures without the breakdown."""
        return replace(self, parts=())

    def labelled(self, name: str) -> Resources:
        """The same figures under ``name``; existing parts become ``name/part``."""
        if self.parts:
            return replace(self, parts=tuple((f"{name}/{sub}", r) for sub, r in self.parts))
        return replace(self, parts=((name, self.totals()),))

    @property
    def breakdown(self) -> dict[str, Resources]:
        """Named parts in the order they were added (same names summed); parts add up to the
        totals. A record built without names reports itself as ``"other"``."""
        out: dict[str, Resources] = {}
        for name, r in self._parts_for_sum():
            out[name] = (out[name] + r).totals() if name in out else r
        return out

    def report(self, device: FpgaDevice | None = None) -> str:
        """A plain-text table of the parts and the total; with ``device``, its limits and the
        utilisation of each resource."""
        header = f"{'part':<20}{'LUT':>10}{'FF':>10}{'DSP':>8}{'BRAM36':>8}{'URAM':>6}"
        lines = [header, "-" * len(header)]
        if device is not None:
            lines.insert(0, f"device {device.part}")

        def row(name: str, r: Resources) -> str:
            return f"{name:<20}{r.lut:>10,}{r.ff:>10,}{r.dsp:>8,}{r.bram36:>8,}{r.uram:>6,}"

        lines += [row(name, r) for name, r in self.breakdown.items()]
        lines += ["-" * len(header), row("total", self)]
        if device is not None:
            lines.append(row("limit", _device_limits(device)))
            u = utilisation(self, device)
            lines.append(
                f"{'utilisation':<20}{u['lut']:>10.1%}{u['ff']:>10.1%}"
                f"{u['dsp']:>8.1%}{u['bram36']:>8.1%}{u['uram']:>6.0%}"
            )
        return "\n".join(lines)

    def _parts_for_sum(self) -> tuple[tuple[str, Resources], ...]:
        if self.parts:
            return self.parts
        if self == Resources():
            return ()
        return (("other", self),)


# --- BRAM mapping -------------------------------------------------------------------------------

_RAMB18_SHAPES: Final = ((1, 16384), (2, 8192), (4, 4096), (8, 2048), (16, 1024), (32, 512))
"""(data width, depth) of a RAMB18 without parity bits; 512x32 is simple-dual-port only.
Xilinx UG473 (7 Series FPGAs Memory Resources), block RAM summary; the same in UG573."""


def ramb18_for(width_bits: int, depth: int) -> int:
    """RAMB18 halves (18 Kib) that hold a ``width_bits x depth`` memory, in the cheapest aspect
    ratio of :data:`_RAMB18_SHAPES` (UG473). Non-decreasing in both arguments."""
    _check_positive_ints("ramb18_for", width_bits=width_bits, depth=depth)
    return min(math.ceil(width_bits / w) * math.ceil(depth / d) for w, d in _RAMB18_SHAPES)


def bram36_for(width_bits: int, depth: int) -> int:
    """BRAM36 tiles for one ``width_bits x depth`` memory: two RAMB18 per tile (UG473)."""
    return math.ceil(ramb18_for(width_bits, depth) / 2)


# --- LUT core (BISMO) ---------------------------------------------------------------------------

BISMO_LUT_PER_DK_BIT: Final = 1.17
"""BISMO ``a_dpu``: LUTs per popcount input bit of one dot-product unit (FPL'18 cost model)."""
BISMO_LUT_PER_DPU: Final = 44.1
"""BISMO ``b_dpu``: the DPU's constant part (shift, negate, accumulate)."""
BISMO_LUT_PER_RESULT: Final = 120.1
"""BISMO ``lut_per_res``: the result path's share per DPU (result memory and its readout)."""
BISMO_ACC_BITS: Final = 32
"""BISMO's default ``accWidth``: one 32-bit accumulator per DPU."""

BISMO_FETCH_STAGE: Final = Resources(lut=1_500, ff=2_000, bram36=1)
"""Estimate: the fetch stage's DMA read engine (fpga-tidbits, with its block-strided request
generator), the router of 64-bit DRAM words to the ``Dm + Dn`` tile memories, and one BRAM36
of read-data FIFO. About the size of an AXI read master with a small request generator."""
BISMO_RESULT_STAGE: Final = Resources(lut=1_000, ff=1_500, bram36=1)
"""Estimate: the result stage's DMA write engine and one BRAM36 of write-data FIFO (the per-DPU
result memories and readout mux are in BISMO's ``lut_per_res``)."""
BISMO_CONTROL: Final = Resources(lut=2_500, ff=3_000)
"""Estimate: three stage controllers, three 16-entry instruction queues and four
synchronisation-token FIFOs (SRL/LUTRAM), and BISMO v2's three Vivado-HLS instruction
generators (loop nests with a few multipliers folded into LUTs) and its performance counters."""


def lut_core_resources(core: LutCore) -> Resources:
    """Resources of a BISMO LUT core ``Dm x Dk x Dn`` with its tile memories and stages.

    The array is BISMO's published estimator (module docstring); its FFs are our estimate per
    the DotProductUnit pipeline in the release (``DotProductUnit.scala``): per DPU a 32-bit
    accumulator, the popcount register (``ceil(log2(Dk+1))`` bits), the compressor's pipeline
    registers (about ``Dk/2``: the first compressor level halves Dk bits, later levels add a
    geometric tail) and about 8 control bits along the pipe; per result one 32-bit output
    register; per tile-memory port two ``Dk``-bit registers (BRAM output register and the DPU
    input register, which Vivado merges across the DPUs of one row / column as equivalent
    registers). Parts: ``array``, ``fetch``, ``result``, ``control``.

    :param core: the LUT core spec (``rows`` = Dm, ``depth_bits`` = Dk, ``cols`` = Dn,
        ``act_buffer_depth`` = LMEM = lhs entries, ``weight_buffer_depth`` = rhs entries).
    """
    dm, dk, dn = core.rows, core.depth_bits, core.cols
    dpus = dm * dn
    lut = math.ceil(dpus * (BISMO_LUT_PER_DK_BIT * dk + BISMO_LUT_PER_DPU + BISMO_LUT_PER_RESULT))
    bram = math.ceil(dk / 32) * (
        dm * math.ceil(core.act_buffer_depth / 1024)
        + dn * math.ceil(core.weight_buffer_depth / 1024)
    )
    ff_per_dpu = BISMO_ACC_BITS + math.ceil(math.log2(dk + 1)) + dk // 2 + 8
    ff = dpus * (ff_per_dpu + BISMO_ACC_BITS) + 2 * (dm + dn) * dk
    array = Resources(lut=lut, ff=ff, bram36=bram)
    return (
        array.labelled("array")
        + BISMO_FETCH_STAGE.labelled("fetch")
        + BISMO_RESULT_STAGE.labelled("result")
        + BISMO_CONTROL.labelled("control")
    )


# --- DSP core (VTA-style 16x16) -----------------------------------------------------------------

DSP_ACT_STORE_BITS: Final = 8
"""Bits per stored activation. The input buffer holds one ``block_rows``-long vector of 8-bit
activations per entry (VTA's ``INP_WIDTH = 8``, ``BLOCK_IN = 16``: 128 bits); in packed mode the
same 128 bits carry ``2*block_rows`` 4-bit activations, which is why N3H-Core's T_k halves."""
DSP_ACC_BITS: Final = 32
"""Accumulator width per output column (VTA's ``ACC_WIDTH = 32``)."""
DSP_OUTPUT_FIFO_DEPTH: Final = 512
"""Estimate: entries of ``block_cols`` requantised 8-bit outputs buffered before the store DMA
(N3H-Core's latency equations name no output buffer; one RAMB18-deep FIFO per 32 bits)."""
DSP_REQUANT_LUT_PER_COL: Final = 48
"""Estimate: shift, round and clamp of a 32-bit accumulator to 8 bits (a 32-bit barrel shift
stage folded with the clamp compare), per output column."""
DSP_CORE_CONTROL: Final = Resources(lut=4_000, ff=5_000)
"""Estimate: instruction fetch and decode, three AXI masters (input load, weight load, output
store) with their address generators, and the load/compute/store handshakes of a VTA-style
core. VTA's own control in Vivado HLS is larger; a hand-written RTL core like N3H-Core's is
assumed here."""


def dsp_core_resources(core: DspCore, act_bits_max: int) -> Resources:
    """Resources of a DSP GEMM core of ``block_rows x block_cols`` MACs.

    Micro-architecture read from N3H-Core's latency equations and TVM's VTA, whose default
    configuration (``vta_config.json``: ``LOG_INP_BUFF_SIZE = 15``, ``LOG_WGT_BUFF_SIZE = 18``,
    ``LOG_BLOCK = 4``, 8-bit inputs and weights) gives exactly N3H-Core's Dl = 2048 and
    Dr = 1024: ``block_rows`` is the reduction side (VTA's BLOCK_IN), ``block_cols`` the output
    channels (BLOCK_OUT).

    * DSPs: ``ceil(rows*cols / cycles_per_block)`` at any activation width. N3H-Core's latency
      equations spend ``EX = 2`` cycles on each (pixel, 16x16 block, k-tile), i.e. 128 MACs per
      cycle at A8 (one MAC per DSP per cycle on 128 DSPs), and halve ``T_k`` at A<=4: the same
      128 DSPs then pack two MACs each (WP486, UG479, UG579), 256 MACs per cycle. This is the
      only reading under which REFERENCE.md's "a 16x16 W8A4 core uses 128 DSPs" and the
      released latency model agree. ``act_bits_max`` (the widest activation the core runs)
      still sets the product width of the adder trees.
    * BRAM: input buffer ``block_rows*8`` bits x Dl; weight buffer one ``rows x cols`` block
      of ``weight_bits`` weights per entry (VTA's weight entry, 2048 bits) x Dr, so a packed
      k-tile of 32 takes two entries, matching the release's ``r_r = Dr/T_k/2``; output FIFO
      ``block_cols*8`` bits x :data:`DSP_OUTPUT_FIFO_DEPTH`; each mapped by :func:`ramb18_for`,
      the RAMB18s of the core paired into BRAM36 tiles.
    * LUT/FF (estimates): per output column a pipelined adder tree of ``block_rows - 1``
      two-input adders ``product_bits + ceil(log2(block_rows))`` wide (one LUT and one FF per
      bit on the carry chain), a 32-bit accumulator and requantisation; per packed DSP a
      ``product_bits``-wide correction of the low product's sign borrow (WP486); plus
      :data:`DSP_CORE_CONTROL`. DSP-internal A/B/M/P registers take no fabric FFs.

    Parts: ``macs`` (DSPs, adder trees, accumulators, requantisation, packing), ``buffers``,
    ``control``.

    :param core: the DSP core spec.
    :param act_bits_max: widest activation bit-width among the layers mapped to this core.
    """
    c = Checker()
    c.require(
        isinstance(act_bits_max, int)
        and not isinstance(act_bits_max, bool)
        and 1 <= act_bits_max <= 16,
        "act_bits_max",
        act_bits_max,
        "must be an int in [1, 16]",
    )
    c.raise_if_any(SpecError, "dsp_core_resources")

    rows, cols = core.block_rows, core.block_cols
    macs = rows * cols
    packed = act_bits_max <= core.pack_act_bits
    dsp = math.ceil(macs / core.cycles_per_block)
    product_bits = core.weight_bits + (core.pack_act_bits if packed else DSP_ACT_STORE_BITS)
    adder_bits = product_bits + math.ceil(math.log2(rows)) if rows > 1 else 0
    tree = (rows - 1) * adder_bits
    pack_fix = dsp * product_bits if packed and core.macs_per_dsp_packed > 1 else 0
    lut = cols * (tree + DSP_ACC_BITS + DSP_REQUANT_LUT_PER_COL) + pack_fix
    ff = cols * (tree + DSP_ACC_BITS + DSP_ACT_STORE_BITS)
    mac_part = Resources(lut=lut, ff=ff, dsp=dsp)

    halves = (
        ramb18_for(rows * DSP_ACT_STORE_BITS, core.input_buffer_depth)
        + ramb18_for(rows * cols * core.weight_bits, core.weight_buffer_depth)
        + ramb18_for(cols * DSP_ACT_STORE_BITS, DSP_OUTPUT_FIFO_DEPTH)
    )
    buffers = Resources(bram36=math.ceil(halves / 2))
    return (
        mac_part.labelled("macs")
        + buffers.labelled("buffers")
        + DSP_CORE_CONTROL.labelled("control")
    )


# --- platform shell and totals ------------------------------------------------------------------

ZYNQ7_SHELL: Final = Resources(lut=3_000, ff=4_000)
"""Estimate for a Zynq-7000 (the PS7 is hard silicon): an AXI Interconnect (PG059) joining the
cores' masters to the HP ports with width and clock conversion, an AXI-Lite control
interconnect and the processor-system reset block."""
ZYNQMP_SHELL: Final = Resources(lut=5_000, ff=7_000)
"""Estimate for a Zynq UltraScale+ MPSoC (``xczu*`` parts): the same roles with AXI
SmartConnect (PG247), which is larger than PG059's crossbar, and 128-bit HP ports."""


def shell_resources(device: FpgaDevice) -> Resources:
    """Platform shell on ``device``: :data:`ZYNQMP_SHELL` for ``xczu*`` parts, else
    :data:`ZYNQ7_SHELL`. Labelled ``shell``."""
    shell = ZYNQMP_SHELL if device.part.lower().startswith("xczu") else ZYNQ7_SHELL
    return shell.labelled("shell")


def total_resources(
    device: FpgaDevice, dsp_core: DspCore | None, lut_core: LutCore | None, act_bits_max: int
) -> Resources:
    """Shell plus whichever cores are present, with parts ``shell``, ``dsp_core/...`` and
    ``lut_core/...``.

    :param act_bits_max: widest activation run on the DSP core (see :func:`dsp_core_resources`);
        ignored without a DSP core.
    """
    used = shell_resources(device)
    if dsp_core is not None:
        used = used + dsp_core_resources(dsp_core, act_bits_max).labelled("dsp_core")
    if lut_core is not None:
        used = used + lut_core_resources(lut_core).labelled("lut_core")
    return used


# --- limits -------------------------------------------------------------------------------------

_LIMITS: Final = (
    ("lut", "LUT"),
    ("ff", "FF"),
    ("dsp", "DSP"),
    ("bram36", "BRAM36"),
    ("uram", "URAM"),
)


def utilisation(used: Resources, device: FpgaDevice) -> dict[str, float]:
    """Used / available for ``lut``, ``ff``, ``dsp``, ``bram36``, ``uram``. A resource the
    device lacks reads 0.0 when unused and ``inf`` when used."""
    out: dict[str, float] = {}
    for key, _ in _LIMITS:
        have, need = getattr(device, key), getattr(used, key)
        out[key] = need / have if have else (math.inf if need else 0.0)
    return out


def check_feasible(used: Resources, device: FpgaDevice) -> tuple[bool, list[str]]:
    """Whether ``used`` fits ``device``, and one line per exceeded limit, e.g.
    ``"LUT 61,234 > 53,200 (115.1%)"``."""
    problems: list[str] = []
    for key, label in _LIMITS:
        have, need = getattr(device, key), getattr(used, key)
        if need > have:
            share = f"{100 * need / have:.1f}%" if have else "device has none"
            problems.append(f"{label} {need:,} > {have:,} ({share})")
    return not problems, problems


def _device_limits(device: FpgaDevice) -> Resources:
    return Resources(
        lut=device.lut, ff=device.ff, dsp=device.dsp, bram36=device.bram36, uram=device.uram
    )


def _check_positive_ints(where: str, **values: int) -> None:
    c = Checker()
    for name, value in values.items():
        c.require(
            isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            name,
            value,
            "must be an int >= 1",
        )
    c.raise_if_any(SpecError, where)
