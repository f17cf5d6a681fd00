/* Waiting for one DMA transfer: pi_cl_dma_cmd_wait on the first of two queued transfers returns
 * when that one is done while the second is still moving (double buffering overlaps); flush waits
 * for both. 1-D and 2-D transfers in both directions, data checked. */
#include <pmsis.h>
#include <stdio.h>
#include <string.h>

#define BIG 8192
#define SMALL 2048
static unsigned char src_big[BIG], src_small[SMALL], back[64 * 8];
PI_L1 static unsigned char dst_big[BIG], dst_small[SMALL], tile[16 * 8];

int main(void) {
    for (int i = 0; i < BIG; i++) src_big[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < SMALL; i++) src_small[i] = (unsigned char)(i * 13 + 1);
    pi_cl_dma_cmd_t a, b, c, d;
    pi_cl_dma_cmd((uintptr_t)src_big, (uintptr_t)dst_big, BIG, PI_CL_DMA_DIR_EXT2LOC, &a);
    pi_cl_dma_cmd((uintptr_t)src_small, (uintptr_t)dst_small, SMALL, PI_CL_DMA_DIR_EXT2LOC, &b);
    pi_cl_dma_cmd_wait(&a);
    unsigned busy_after_a = mcusim_dma_busy();
    int big_ok = memcmp(src_big, dst_big, BIG) == 0;
    pi_cl_dma_flush();
    unsigned busy_after_flush = mcusim_dma_busy();
    int small_ok = memcmp(src_small, dst_small, SMALL) == 0;
    /* 2-D: an 8-line x 16-byte tile of a 64-byte-wide image in, then out to another image */
    pi_cl_dma_cmd_2d((uintptr_t)&src_big[3 * 64 + 8], (uintptr_t)tile, 16 * 8, 64, 16, PI_CL_DMA_DIR_EXT2LOC, &c);
    pi_cl_dma_cmd_wait(&c);
    pi_cl_dma_cmd_2d((uintptr_t)&back[8], (uintptr_t)tile, 16 * 8, 64, 16, PI_CL_DMA_DIR_LOC2EXT, &d);
    pi_cl_dma_cmd_wait(&d);
    int tile_ok = 1;
    for (int r = 0; r < 8; r++)
        for (int x = 0; x < 16; x++)
            tile_ok &= tile[r * 16 + x] == src_big[(3 + r) * 64 + 8 + x] && back[r * 64 + 8 + x] == tile[r * 16 + x];
    printf("dma: ids %u %u busy_after_a %u busy_after_flush %u big_ok %d small_ok %d tile_ok %d\n",
           (unsigned)a.id, (unsigned)b.id, busy_after_a, busy_after_flush, big_ok, small_ok, tile_ok);
    return 0;
}
