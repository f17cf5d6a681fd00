/* FP16 on one core: scalar _Float16 (Zfh) and the FP16 SIMD unit through mcusim.h (vfmac.h,
 * vfdotpex.s.h, vfcpka.h.s). Every value is a small integer or a short binary fraction, exact in
 * FP16, so the host computes the same checksum. */
#include <mcusim.h>
#include <stdio.h>

#define N 64
static _Float16 x[N] __attribute__((aligned(4))), y[N] __attribute__((aligned(4)));

int main(void) {
    for (int i = 0; i < N; i++) {
        x[i] = (_Float16)((i % 9) - 4) * (_Float16)0.5f;
        y[i] = (_Float16)((i * 5) % 7 - 3);
    }
    _Float16 s = 0;                          /* scalar Zfh */
    for (int i = 0; i < N; i++)
        s += x[i] * y[i];
    v2f16 acc = {0, 0};                      /* vfmac.h: two lanes */
    float dot = 0.0f;                        /* vfdotpex.s.h: FP32 accumulation */
    for (int i = 0; i < N; i += 2) {
        v2f16 a = *(v2f16 *)&x[i], b = *(v2f16 *)&y[i];
        acc = __vfmac_h(acc, a, b);
        dot = __vfdotpex_s_h(dot, a, b);
    }
    printf("result: scalar %d simd %d %d dotpex %d\n", (int)(s * 2), (int)(acc[0] * 2), (int)(acc[1] * 2),
           (int)(dot * 2));
    return 0;
}
