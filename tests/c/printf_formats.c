/* printf against the host's libc: every conversion and flag the SDK's printf supports. */
#include <stdio.h>

int main(void) {
    int vals[] = {0, 1, -1, 42, -42, 2147483647, -2147483647 - 1, 1000000};
    for (int i = 0; i < 8; i++)
        printf("result: [%d] [%5d] [%-5d|] [%05d] [%+d] [% d] [%.3d] [%u] [%x] [%#X] [%o] [%08x]\n", vals[i], vals[i],
               vals[i], vals[i], vals[i], vals[i], vals[i], (unsigned)vals[i], (unsigned)vals[i],
               (unsigned)vals[i], (unsigned)vals[i], (unsigned)vals[i]);
    long long big[] = {0, -1, 1234567890123456789ll, -9223372036854775807ll - 1};
    for (int i = 0; i < 4; i++)
        printf("result: [%lld] [%llu] [%llx]\n", big[i], (unsigned long long)big[i], (unsigned long long)big[i]);
    double fs[] = {0.0, -0.0, 1.5, -2.25, 3.0625, 1024.125, 0.5, 123456789.0, 0.001953125, 1e15};
    for (int i = 0; i < 10; i++)
        printf("result: [%f] [%.0f] [%.2f] [%10.3f] [%-10.1f|] [%+.4f]\n", fs[i], fs[i], fs[i], fs[i], fs[i], fs[i]);
    printf("result: [%s] [%8s] [%-8s|] [%.3s] [%c%c] [%%] [%5c]\n", "abc", "abc", "abc", "abcdef", 'o', 'k', 'z');
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d-%s-%x", 7, "seven", 0x7f);
    printf("result: snprintf %d [%s]\n", n, buf);
    puts("result: puts");
    putchar('r'); putchar('\n');
    return 0;
}
