"""The cluster's memory map: where memories and peripheral registers live (one place).

| range                     | what |
|---------------------------|------|
| 0x10000000 + TCDM size    | TCDM (L1), word-interleaved banks |
| 0x10200000 - 0x102000F7   | event unit (registers below) |
| 0x102000F8 - 0x102000FF   | named region markers: a store of the address of a NUL-terminated name |
| 0x10200100 - 0x102001FF   | DMA (registers below) |
| 0x10200200 - 0x102007EF   | region markers: a store to REGION_BEGIN + 4*id / REGION_END + 4*id |
| 0x1C000000 + L2 size      | L2 |
| 0xFFFFF800 - 0xFFFFFFFF   | core-local alias of the event unit and DMA, reachable with `off(x0)` |

The alias lets the cluster pseudo-ops (`barrier`, `core_id`, ...) be one instruction that clobbers
no register: `lw x0, -2048+8(x0)` is a barrier.

Region markers: the assembler gives each region name an id and defines the symbol
`__region.<name>` = id; the simulator reads those symbols to name the regions in its reports.
Compiled code (the C SDK's `mcusim_region_begin("name")`) instead stores the address of the name, a
NUL-terminated string of at most REGION_NAME_MAX bytes, to REGION_NAME_BEGIN / REGION_NAME_END; the
simulator reads the name from memory, so no symbol is needed.
"""

TCDM_BASE = 0x1000_0000
L2_BASE = 0x1C00_0000
PERIPH_BASE = 0x1020_0000
PERIPH_SIZE = 0x800
ALIAS_BASE = 0xFFFF_F800        # = -2048 as a 12-bit immediate from x0

EU_OFFSET = 0x000
DMA_OFFSET = 0x100
REGION_BEGIN = 0x200      # + 4 * id
REGION_END = 0x500        # + 4 * id
MAX_REGIONS = 192
REGION_NAME_BEGIN = 0x0F8  # w: address of a NUL-terminated region name; the region begins
REGION_NAME_END = 0x0FC    # w: address of the name; the region ends
REGION_NAME_MAX = 64
REGION_SYMBOL_PREFIX = "__region."

# Event unit registers (offsets from the event unit base)
EU_CORE_ID = 0x00        # r: this core's id
EU_NUM_WORKERS = 0x04    # r: number of worker cores
EU_BARRIER = 0x08        # r: arrive at the barrier, sleep until the whole team has arrived
EU_BARRIER_TEAM = 0x0C   # r/w: bit mask of the cores taking part in the barrier
EU_WAIT_EVENT = 0x10     # r: sleep until this core has an event (consumes it)
EU_SEND_EVENT = 0x14     # w: send an event to every core in the bit mask
EU_MUTEX = 0x18          # r: acquire the mutex (sleeps while another core holds it); w: release
EU_FORK_ENTRY = 0x20     # w: entry address of the next dispatch
EU_FORK_ARG = 0x24       # w: argument (a0) of the next dispatch
EU_FORK = 0x28           # w: dispatch entry(arg) to the workers in the bit mask
EU_JOIN = 0x2C           # r: sleep until every dispatched worker has returned

# DMA registers (offsets from the DMA base); each core has its own set of command registers.
DMA_SRC = 0x00
DMA_DST = 0x04
DMA_LEN = 0x08           # bytes per row
DMA_SRC_STRIDE = 0x0C    # bytes between row starts (2-D)
DMA_DST_STRIDE = 0x10
DMA_ROWS = 0x14          # rows (1 = a 1-D transfer)
DMA_START = 0x18         # w: queue the transfer described above; r: id of the last queued transfer
DMA_BUSY = 0x1C          # r: number of this core's transfers not yet complete
DMA_WAIT = 0x20          # r: sleep until all of this core's transfers are complete (or, after a
                         #    write to DMA_WAIT_ID, those up to that id)
DMA_WAIT_ID = 0x24       # w: the next DMA_WAIT read waits only for this core's transfers with ids <= value

# A worker's return address while it runs a dispatched function: returning there ends the task.
DISPATCH_RETURN = PERIPH_BASE + 0x7F0


def periph_offset(address: int) -> int | None:
    """Offset into the peripheral block for `address`, or None if it is not a peripheral."""
    if PERIPH_BASE <= address < PERIPH_BASE + PERIPH_SIZE:
        return address - PERIPH_BASE
    if address >= ALIAS_BASE:
        return address - ALIAS_BASE
    return None


def alias(offset: int) -> int:
    """The signed 12-bit immediate that reaches peripheral `offset` from x0."""
    return offset - 2048
