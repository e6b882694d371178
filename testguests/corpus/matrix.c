/* Double-precision numerics so x87 code (and, in the pentium4 variant,
 * scalar/packed SSE2) appears: matrix multiply, LU decomposition with
 * partial pivoting and solve, Newton square roots, Taylor-series sin/cos,
 * Simpson integration, Horner polynomials, a Mandelbrot grid.
 * Only + - * / and comparisons on doubles: with x87 precision control at 53
 * bits these round exactly like SSE2, so every variant agrees bit for bit. */
#include "corpus.h"

#define N 12

static double A[N][N], B[N][N], C[N][N], LU[N][N];
static int perm[N];

static double dabs(double x) { return x < 0 ? -x : x; }

static void matmul(double r[N][N], double a[N][N], double b[N][N])
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < N; k++)
                s += a[i][k] * b[k][j];
            r[i][j] = s;
        }
}

static void transpose(double r[N][N], double a[N][N])
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            r[j][i] = a[i][j];
}

/* Doolittle LU with partial pivoting, in place; returns 0 if singular. */
static int lu_decompose(double m[N][N], int *p)
{
    for (int i = 0; i < N; i++)
        p[i] = i;
    for (int k = 0; k < N; k++) {
        int piv = k;
        double best = dabs(m[k][k]);
        for (int i = k + 1; i < N; i++)
            if (dabs(m[i][k]) > best) {
                best = dabs(m[i][k]);
                piv = i;
            }
        if (best == 0.0)
            return 0;
        if (piv != k) {
            for (int j = 0; j < N; j++) {
                double t = m[k][j];
                m[k][j] = m[piv][j];
                m[piv][j] = t;
            }
            int t = p[k];
            p[k] = p[piv];
            p[piv] = t;
        }
        for (int i = k + 1; i < N; i++) {
            double f = m[i][k] / m[k][k];
            m[i][k] = f;
            for (int j = k + 1; j < N; j++)
                m[i][j] -= f * m[k][j];
        }
    }
    return 1;
}

static void lu_solve(double m[N][N], const int *p, const double *b, double *x)
{
    double y[N];
    for (int i = 0; i < N; i++) {
        double s = b[p[i]];
        for (int j = 0; j < i; j++)
            s -= m[i][j] * y[j];
        y[i] = s;
    }
    for (int i = N - 1; i >= 0; i--) {
        double s = y[i];
        for (int j = i + 1; j < N; j++)
            s -= m[i][j] * x[j];
        x[i] = s / m[i][i];
    }
}

static double newton_sqrt(double v)
{
    if (v <= 0.0)
        return 0.0;
    double x = v > 1.0 ? v : 1.0;
    for (int i = 0; i < 60; i++) {
        double nx = 0.5 * (x + v / x);
        if (nx == x)
            break;
        x = nx;
    }
    return x;
}

/* sin/cos by range reduction to [-pi, pi] and a Taylor series. */
static const double PI = 3.14159265358979323846;

static double taylor_sin(double x)
{
    while (x > PI) x -= 2 * PI;
    while (x < -PI) x += 2 * PI;
    double term = x, sum = x, x2 = x * x;
    for (int n = 1; n < 14; n++) {
        term *= -x2 / ((2 * n) * (2 * n + 1));
        sum += term;
    }
    return sum;
}

static double taylor_cos(double x) { return taylor_sin(x + PI / 2); }

static double horner(const double *c, int n, double x)
{
    double r = c[n - 1];
    for (int i = n - 2; i >= 0; i--)
        r = r * x + c[i];
    return r;
}

static double simpson(const double *c, int n, double a, double b, int steps)
{
    double h = (b - a) / steps, s = horner(c, n, a) + horner(c, n, b);
    for (int i = 1; i < steps; i++)
        s += horner(c, n, a + i * h) * ((i & 1) ? 4.0 : 2.0);
    return s * h / 3.0;
}

static uint32_t mandel(int w, int hgt, int maxit)
{
    uint32_t total = 0;
    for (int py = 0; py < hgt; py++) {
        double ci = -1.2 + 2.4 * py / hgt;
        for (int px = 0; px < w; px++) {
            double cr = -2.1 + 2.8 * px / w, zr = 0, zi = 0;
            int it = 0;
            while (it < maxit && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            total = total * 3 + (uint32_t)it;
        }
    }
    return total;
}

/* Quantize a double into the checksum (truncating conversion). */
static uint32_t q(double x, double scale)
{
    return (uint32_t)(int32_t)(x * scale);
}

uint32_t matrix_selftest(void)
{
    uint32_t h = 0, bad = 0, s = 31337;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = (double)(int32_t)(xs32(&s) % 2001 - 1000) / 64.0;
            B[i][j] = i == j ? 1.0 : 0.0;
        }
    matmul(C, A, B);                       /* A * I == A exactly */
    int same = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            same &= C[i][j] == A[i][j];
    CHECK(same);

    transpose(B, A);
    matmul(C, A, B);                       /* A * A^T is symmetric */
    int sym = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            sym &= C[i][j] == C[j][i];
    CHECK(sym);
    for (int i = 0; i < N; i++)
        h = mix32(h, q(C[i][(i * 5) % N], 16.0));

    /* Solve A x = b for known x, check the residual is tiny. */
    double x_true[N], b[N], x[N];
    for (int i = 0; i < N; i++)
        x_true[i] = (double)(i + 1) * (i & 1 ? -0.5 : 0.25);
    for (int i = 0; i < N; i++) {
        b[i] = 0;
        for (int j = 0; j < N; j++)
            b[i] += A[i][j] * x_true[j];
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            LU[i][j] = A[i][j];
    CHECK(lu_decompose(LU, perm));
    lu_solve(LU, perm, b, x);
    double err = 0;
    for (int i = 0; i < N; i++)
        err = dabs(x[i] - x_true[i]) > err ? dabs(x[i] - x_true[i]) : err;
    CHECK(err < 1e-9);
    double det = 1.0;
    for (int i = 0; i < N; i++)
        det *= LU[i][i];
    h = mix32(h, q(det / 1e6, 1.0));
    for (int i = 0; i < N; i++)
        h = mix32(h, q(x[i], 1e6));

    CHECK(newton_sqrt(2.0) * newton_sqrt(2.0) - 2.0 < 1e-15);
    CHECK(newton_sqrt(1e10) == 1e5);
    double acc = 0;
    for (int i = 1; i <= 100; i++)
        acc += newton_sqrt((double)i);
    h = mix32(h, q(acc, 1e9 / 1024));

    double sn = taylor_sin(PI / 6), cs = taylor_cos(PI / 3);
    CHECK(dabs(sn - 0.5) < 1e-12 && dabs(cs - 0.5) < 1e-12);
    double ident = 0;
    for (int i = 0; i < 64; i++) {
        double a = i * 0.1 - 3.0, sa = taylor_sin(a), ca = taylor_cos(a);
        ident += dabs(sa * sa + ca * ca - 1.0);
        h = mix32(h, q(sa, 1e8));
    }
    CHECK(ident < 1e-10);

    /* integral of 1 + 2x + 3x^2 + 4x^3 over [0, 2] = 2 + 4 + 8 + 16 = 30 */
    static const double poly[4] = { 1, 2, 3, 4 };
    double integral = simpson(poly, 4, 0.0, 2.0, 100);
    CHECK(dabs(integral - 30.0) < 1e-9);
    h = mix32(h, q(integral, 1e6));

    h = mix32(h, mandel(48, 24, 80));

    /* unsigned <-> double conversions */
    uint32_t u = 0xF0000000u;
    double du = (double)u;
    CHECK(du == 4026531840.0 && (uint32_t)du == u);
    h = mix32(h, (uint32_t)(du / 3.0));
    return h ^ (bad << 20);
}
