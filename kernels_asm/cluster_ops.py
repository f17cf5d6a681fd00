"""Cluster pseudo-instructions: one instruction each, through the core-local peripheral alias
(`off(x0)` reaches 0xFFFFF800..0xFFFFFFFF), so none of them clobbers a register.

| pseudo | meaning |
|---|---|
| `core_id rd` | rd = this core's id (0-7 workers, 8 controller) |
| `num_workers rd` | rd = number of worker cores |
| `barrier` | wait until every core of the barrier team has arrived |
| `barrier_team rs2` | set the barrier team (bit mask of core ids) |
| `wait_event` | sleep until an event is sent to this core (`wfi` does the same) |
| `send_event rs2` | send an event to the cores in the bit mask rs2 |
| `mutex_lock` / `mutex_unlock` | the event unit's mutex |
| `fork rs1, rs2, rs3` | controller: run function rs2(a0 = rs3) on the workers in mask rs1 |
| `join` | controller: wait until the dispatched workers have returned |
| `dma_copy rs1, rs2, rs3` | DMA rs3 bytes from address rs2 to address rs1 (1-D) |
| `dma_2d rs1, rs2, rs3` | set the next copy's source stride rs1, destination stride rs2, rows rs3 |
| `dma_copy_2d rs1, rs2, rs3` | DMA rows x rs3 bytes from rs2 to rs1 with the strides set by dma_2d |
| `dma_wait` | sleep until this core's DMA transfers are complete |
| `dma_wait_id rs2` | sleep until this core's DMA transfers with ids <= rs2 are complete |
| `region_begin NAME` / `region_end NAME` | mark a named region (handled by the assembler: it numbers the names and defines `__region.NAME`) |

Register addresses come from `simulator.memory_map`.
"""
from __future__ import annotations

from mcusim.simulator import memory_map as mm


def _eu(offset: int) -> int:
    return mm.alias(mm.EU_OFFSET + offset)


def _dma(offset: int) -> int:
    return mm.alias(mm.DMA_OFFSET + offset)


CLUSTER_PSEUDOS: list[tuple[str, str, tuple[str, ...]]] = [
    ("core_id", "rd", ("csrrs {rd}, mhartid, x0",)),
    ("num_workers", "rd", (f"lw {{rd}}, {_eu(mm.EU_NUM_WORKERS)}(x0)",)),
    ("barrier", "", (f"lw x0, {_eu(mm.EU_BARRIER)}(x0)",)),
    ("barrier_team", "rs2", (f"sw {{rs2}}, {_eu(mm.EU_BARRIER_TEAM)}(x0)",)),
    ("wait_event", "", (f"lw x0, {_eu(mm.EU_WAIT_EVENT)}(x0)",)),
    ("send_event", "rs2", (f"sw {{rs2}}, {_eu(mm.EU_SEND_EVENT)}(x0)",)),
    ("mutex_lock", "", (f"lw x0, {_eu(mm.EU_MUTEX)}(x0)",)),
    ("mutex_unlock", "", (f"sw x0, {_eu(mm.EU_MUTEX)}(x0)",)),
    ("fork", "rs1, rs2, rs3", (f"sw {{rs2}}, {_eu(mm.EU_FORK_ENTRY)}(x0)",
                               f"sw {{rs3}}, {_eu(mm.EU_FORK_ARG)}(x0)",
                               f"sw {{rs1}}, {_eu(mm.EU_FORK)}(x0)")),
    ("join", "", (f"lw x0, {_eu(mm.EU_JOIN)}(x0)",)),
    ("dma_copy", "rs1, rs2, rs3", (f"sw {{rs2}}, {_dma(mm.DMA_SRC)}(x0)",
                                   f"sw {{rs1}}, {_dma(mm.DMA_DST)}(x0)",
                                   f"sw {{rs3}}, {_dma(mm.DMA_LEN)}(x0)",
                                   f"sw x0, {_dma(mm.DMA_ROWS)}(x0)",
                                   f"sw x0, {_dma(mm.DMA_START)}(x0)")),
    ("dma_2d", "rs1, rs2, rs3", (f"sw {{rs1}}, {_dma(mm.DMA_SRC_STRIDE)}(x0)",
                                 f"sw {{rs2}}, {_dma(mm.DMA_DST_STRIDE)}(x0)",
                                 f"sw {{rs3}}, {_dma(mm.DMA_ROWS)}(x0)")),
    ("dma_copy_2d", "rs1, rs2, rs3", (f"sw {{rs2}}, {_dma(mm.DMA_SRC)}(x0)",
                                      f"sw {{rs1}}, {_dma(mm.DMA_DST)}(x0)",
                                      f"sw {{rs3}}, {_dma(mm.DMA_LEN)}(x0)",
                                      f"sw x0, {_dma(mm.DMA_START)}(x0)")),
    ("dma_wait", "", (f"lw x0, {_dma(mm.DMA_WAIT)}(x0)",)),
    ("dma_wait_id", "rs2", (f"sw {{rs2}}, {_dma(mm.DMA_WAIT_ID)}(x0)", f"lw x0, {_dma(mm.DMA_WAIT)}(x0)")),
]

REGION_OPS = ("region_begin", "region_end")


def region_store(region_id: int, begin: bool) -> str:
    """The store that marks region `region_id` beginning or ending on this core."""
    base = mm.REGION_BEGIN if begin else mm.REGION_END
    return f"x0, {mm.alias(base + 4 * region_id)}(x0)"
