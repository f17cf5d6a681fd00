/* The SDK's tiny libc: console output over the simulator's write ecall (a7 = 64), exit (a7 = 93),
 * and the memory functions compilers emit calls to. Compiled with -fno-builtin so the loops below
 * are not turned back into calls to themselves.
 *
 * printf supports %d %i %u %x %X %o %c %s %p %% and %f (|x| < 1.8e19, precision 0..9, default 6;
 * no %e / %g), with the flags - 0 + space #, a width and a precision, and the l/ll/z/h length
 * modifiers. One printf call is one ecall (up to 256 bytes), so lines from several cores do not
 * interleave inside a call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mcusim.h"
#include "stdio.h"
#include "stdlib.h"
#include "string.h"

int mcusim_write(int fd, const void *buf, size_t len) {
    register int a0 __asm__("a0") = fd;
    register const void *a1 __asm__("a1") = buf;
    register size_t a2 __asm__("a2") = len;
    register int a7 __asm__("a7") = 64;
    __asm__ volatile ("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return (int)len;
}

void mcusim_exit(int code) {
    register int a0 __asm__("a0") = code;
    register int a7 __asm__("a7") = 93;
    __asm__ volatile ("ecall" : : "r"(a0), "r"(a7) : "memory");
    for (;;) {
    }
}

void exit(int code) { mcusim_exit(code); }
void abort(void) { mcusim_exit(134); }

/* --- memory and strings -------------------------------------------------------------------------- */
void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3) == 0) {
        for (; n >= 4; n -= 4, d += 4, s += 4)
            *(uint32_t *)d = *(const uint32_t *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    if (((uintptr_t)d & 3) == 0) {
        uint32_t w = (unsigned char)c * 0x01010101u;
        for (; n >= 4; n -= 4, d += 4)
            *(uint32_t *)d = w;
    }
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

char *strcpy(char *dst, const char *src) {
    char *d = dst;
    while ((*d++ = *src++))
        ;
    return dst;
}

/* --- formatting ---------------------------------------------------------------------------------- */
typedef struct {
    char *buf;          /* destination (NULL: console) */
    size_t size, len;   /* capacity and characters produced so far */
    char tmp[256];      /* console: bytes not yet written */
    size_t pending;
} out_t;

static void out_flush(out_t *o) {
    if (!o->buf && o->pending) {
        mcusim_write(1, o->tmp, o->pending);
        o->pending = 0;
    }
}

static void out_char(out_t *o, char c) {
    if (o->buf) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = c;
    } else {
        if (o->pending == sizeof o->tmp)
            out_flush(o);
        o->tmp[o->pending++] = c;
    }
    o->len++;
}

/* 64-bit unsigned division by 10 with 32-bit divides (no libgcc helper needed) */
static uint64_t divmod10(uint64_t v, unsigned *rem) {
    uint32_t hi = (uint32_t)(v >> 32), lo = (uint32_t)v;
    uint32_t qh = hi / 10, r = hi % 10;
    uint32_t t = (r << 16) | (lo >> 16);
    uint32_t q1 = t / 10;
    r = t % 10;
    t = (r << 16) | (lo & 0xFFFF);
    uint32_t q0 = t / 10;
    *rem = t % 10;
    return ((uint64_t)qh << 32) | ((uint64_t)q1 << 16) | q0;
}

/* digits of v in base (10, 16, 8) into end-backwards buffer; returns the start */
static char *utoa(uint64_t v, unsigned base, int upper, char *end) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    do {
        unsigned d;
        if (base == 10) {
            v = divmod10(v, &d);
        } else {
            d = (unsigned)(v & (base - 1));
            v >>= base == 16 ? 4 : 3;
        }
        *--p = digits[d];
    } while (v);
    return p;
}

typedef struct {
    int left, zero, plus, space, alt, width, prec;
} spec_t;

static void emit(out_t *o, const spec_t *sp, const char *sign, const char *body, size_t n, size_t zeros) {
    size_t sl = strlen(sign);
    size_t total = sl + zeros + n;
    size_t pad = sp->width > 0 && (size_t)sp->width > total ? (size_t)sp->width - total : 0;
    if (!sp->left && !sp->zero)
        for (; pad; pad--) out_char(o, ' ');
    for (size_t i = 0; i < sl; i++) out_char(o, sign[i]);
    if (!sp->left && sp->zero)
        for (; pad; pad--) out_char(o, '0');
    for (; zeros; zeros--) out_char(o, '0');
    for (size_t i = 0; i < n; i++) out_char(o, body[i]);
    for (; pad; pad--) out_char(o, ' ');
}

/* %f of the double with bits `bits`: exact digits of the binary value, rounded half to even
 * (values below 2^-8 lose bits beyond 60 fraction bits first) */
static void format_double(out_t *o, const spec_t *sp, uint64_t bits) {
    int neg = (int)(bits >> 63);
    int exp = (int)((bits >> 52) & 0x7FF);
    uint64_t man = bits & ((1ull << 52) - 1);
    const char *sign = neg ? "-" : sp->plus ? "+" : sp->space ? " " : "";
    spec_t s = *sp;
    s.zero = 0;
    if (exp == 0x7FF) {
        emit(o, &s, man ? "" : sign, man ? "nan" : "inf", 3, 0);
        return;
    }
    int prec = sp->prec < 0 ? 6 : sp->prec > 9 ? 9 : sp->prec;
    if (exp) man |= 1ull << 52; else exp = 1;
    int e = exp - 1075;                 /* value = man * 2^e */
    uint64_t ip, frac = 0;
    int fbits = 0;
    if (e >= 0) {
        if (e > 11) {                   /* >= 2^64: out of range for this printf */
            emit(o, &s, sign, "inf", 3, 0);
            return;
        }
        ip = man << e;
    } else {
        fbits = -e;
        if (fbits > 60) {               /* keep frac * 10 within 64 bits */
            man >>= fbits - 60 > 63 ? 63 : fbits - 60;
            fbits = 60;
        }
        ip = fbits >= 64 ? 0 : man >> fbits;
        frac = man & ((1ull << fbits) - 1);
    }
    char digits[12];
    for (int i = 0; i < prec; i++) {
        frac *= 10;
        digits[i] = (char)('0' + (frac >> fbits));
        frac &= fbits ? (1ull << fbits) - 1 : 0;
    }
    uint64_t rest = frac * 10;
    unsigned next = fbits ? (unsigned)(rest >> fbits) : 0;
    int odd = prec ? (digits[prec - 1] - '0') & 1 : (int)(ip & 1);
    rest &= fbits ? (1ull << fbits) - 1 : 0;
    if (next > 5 || (next == 5 && (rest || odd))) {   /* round half to even, as glibc */
        int i = prec - 1;
        for (; i >= 0 && digits[i] == '9'; i--) digits[i] = '0';
        if (i >= 0) digits[i]++; else ip++;
    }
    char buf[40];
    char *end = buf + 24;
    char *p = utoa(ip, 10, 0, end);
    if (prec) {
        *end++ = '.';
        for (int i = 0; i < prec; i++) *end++ = digits[i];
    }
    spec_t z = *sp;
    emit(o, &z, sign, p, (size_t)(end - p), 0);
}

static int format(out_t *o, const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_char(o, *fmt);
            continue;
        }
        spec_t sp = {0, 0, 0, 0, 0, 0, -1};
        for (;; fmt++) {
            char c = fmt[1];
            if (c == '-') sp.left = 1;
            else if (c == '0') sp.zero = 1;
            else if (c == '+') sp.plus = 1;
            else if (c == ' ') sp.space = 1;
            else if (c == '#') sp.alt = 1;
            else break;
        }
        fmt++;
        if (*fmt == '*') { sp.width = va_arg(ap, int); fmt++; }
        else while (*fmt >= '0' && *fmt <= '9') sp.width = sp.width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            sp.prec = 0;
            if (*fmt == '*') { sp.prec = va_arg(ap, int); fmt++; }
            else while (*fmt >= '0' && *fmt <= '9') sp.prec = sp.prec * 10 + (*fmt++ - '0');
        }
        int longs = 0;
        while (*fmt == 'l' || *fmt == 'h' || *fmt == 'z' || *fmt == 't') {
            if (*fmt == 'l') longs++;
            fmt++;
        }
        char c = *fmt;
        if (!c) break;
        char buf[24];
        char *end = buf + sizeof buf;
        switch (c) {
        case 'd': case 'i': {
            int64_t v = longs >= 2 ? va_arg(ap, long long) : (int64_t)va_arg(ap, int);
            uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            char *p = sp.prec == 0 && u == 0 ? end : utoa(u, 10, 0, end);
            size_t n = (size_t)(end - p);
            size_t zeros = sp.prec > 0 && (size_t)sp.prec > n ? (size_t)sp.prec - n : 0;
            if (sp.prec >= 0) sp.zero = 0;
            emit(o, &sp, v < 0 ? "-" : sp.plus ? "+" : sp.space ? " " : "", p, n, zeros);
            break;
        }
        case 'u': case 'x': case 'X': case 'o': case 'p': {
            uint64_t u;
            if (c == 'p') u = (uintptr_t)va_arg(ap, void *);
            else u = longs >= 2 ? va_arg(ap, unsigned long long) : (uint64_t)va_arg(ap, unsigned);
            unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
            char *p = sp.prec == 0 && u == 0 ? end : utoa(u, base, c == 'X', end);
            size_t n = (size_t)(end - p);
            size_t zeros = sp.prec > 0 && (size_t)sp.prec > n ? (size_t)sp.prec - n : 0;
            if (sp.prec >= 0) sp.zero = 0;
            const char *prefix = c == 'p' || (sp.alt && c == 'x' && u) ? "0x" : sp.alt && c == 'X' && u ? "0X"
                               : sp.alt && c == 'o' && !zeros && *p != '0' ? "0" : "";
            emit(o, &sp, prefix, p, n, zeros);
            break;
        }
        case 'f': case 'F': {
            /* a double in the variadic area has the bits of a 64-bit integer in the same slot */
            uint64_t bits = va_arg(ap, uint64_t);
            format_double(o, &sp, bits);
            break;
        }
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            sp.zero = 0;
            emit(o, &sp, "", buf, 1, 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            size_t n = 0;
            while (s[n] && (sp.prec < 0 || n < (size_t)sp.prec)) n++;
            sp.zero = 0;
            emit(o, &sp, "", s, n, 0);
            break;
        }
        case '%':
            out_char(o, '%');
            break;
        default:                        /* unknown conversion: print it as written */
            out_char(o, '%');
            out_char(o, c);
            break;
        }
    }
    return (int)o->len;
}

int vprintf(const char *fmt, va_list ap) {
    out_t o;
    o.buf = NULL;
    o.size = o.len = o.pending = 0;
    int n = format(&o, fmt, ap);
    out_flush(&o);
    return n;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    out_t o;
    o.buf = buf;
    o.size = size;
    o.len = o.pending = 0;
    int n = format(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int sprintf(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, (size_t)-1 >> 1, fmt, ap);
    va_end(ap);
    return n;
}

int puts(const char *s) {
    out_t o;
    o.buf = NULL;
    o.size = o.len = o.pending = 0;
    while (*s)
        out_char(&o, *s++);
    out_char(&o, '\n');
    out_flush(&o);
    return (int)o.len;
}

int putchar(int c) {
    char ch = (char)c;
    mcusim_write(1, &ch, 1);
    return (unsigned char)c;
}
