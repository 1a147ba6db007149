// The BLIS-style GEMM engine behind MatMul (Goto & van de Geijn 2008; Van Zee & van de Geijn, BLIS):
// C (M, N) (+)= A (M, K) · B (K, N) with A and B given by element strides, B packed into KC×NR panels,
// A into KC×MR panels, and a register-tiled MR×NR micro-kernel (Vector512: 6×32, twelve FMA accumulators).
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static unsafe partial class MatMul
{
    internal enum Isa { Scalar, V128, V256, V512 }

    // Selected once; static readonly values are constants to the tiered JIT.
    internal static readonly Isa Level =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Isa.V512 :
        Vector256.IsHardwareAccelerated && Fma.IsSupported ? Isa.V256 :
        Vector128.IsHardwareAccelerated ? Isa.V128 : Isa.Scalar;

    internal const int MR = 6;
    internal static readonly int NR = Level switch { Isa.V512 => 32, Isa.V256 => 16, _ => 8 };
    internal const int KC = 256;
    // Inner dimensions up to KSingle are one block (one pass over C; the kc×NR panel of B and kc×MR of A still fit
    // a 48 KiB L1): K = 288 (stories15M) would otherwise be a 256 block plus a 32 one.
    const int KSingle = 300;
    internal const int MC = MR * 80;      // A block (MC×KC floats = 480 KiB) stays in L2
    internal const int NC = 2048;         // B block (KC×NC floats = 2 MiB) streams from L3

    const int ScratchA = 0, ScratchB = 1, ScratchShared = 4, ScratchSplitK = 5;

    /// <summary>Depth of the packed blocks for inner dimension K: all of K when small, else equal blocks of at most KC.</summary>
    internal static int KcFor(int K)
    {
        if (K <= KSingle) return Math.Max(K, 1);
        int blocks = (K + KC - 1) / KC;
        return (K + blocks - 1) / blocks;
    }

    /// <summary>Floats of B (K, N) packed whole in the PackedWeight layout (N padded to NR).</summary>
    internal static long PackedSize(int K, int N) => (long)K * ((N + NR - 1) / NR * NR);

    /// <summary>Packs all of B (K, N) into <paramref name="dst"/> in the PackedWeight layout, in parallel on <paramref name="pool"/>.</summary>
    internal static void PackAll(WorkerPool pool, float* dst, Operand b, int K, int N)
    {
        int nr = NR, kcb = KcFor(K);
        var op = new PackAllOp { Dst = dst, B = b, K = K, N = N, Kcb = kcb, PaddedN = (N + nr - 1) / nr * nr, Panels = (N + nr - 1) / nr };
        int items = (K + kcb - 1) / kcb * op.Panels;
        // A panel is kcb×NR floats (9K at K = 288): even a few per thread pay for waking the pool, and a B packed
        // on one thread leaves the other idle right before the product that needs it.
        pool.For(items, ref op, minPerThread: 4);
    }

    struct PackAllOp : IParallelOp
    {
        public float* Dst;
        public Operand B;
        public int K, N, Kcb, PaddedN, Panels;

        public readonly void Execute(int start, int end)
        {
            int nr = NR;
            for (int item = start; item < end; item++)
            {
                int pc = item / Panels * Kcb, j0 = item % Panels * nr, kc = Math.Min(Kcb, K - pc);
                PackB(Dst + (nint)pc * PaddedN + (nint)j0 * kc, B.Offset(pc, j0), kc, Math.Min(nr, N - j0));
            }
        }
    }

    /// <summary>Strided operand: element (i, j) at p[i*Rs + j*Cs].</summary>
    internal readonly struct Operand(float* p, nint rs, nint cs)
    {
        public readonly float* P = p;
        public readonly nint Rs = rs, Cs = cs;
        public Operand Offset(int i, int j) => new(P + i * Rs + j * Cs, Rs, Cs);
    }

    /// <summary>
    /// C (M, N; row stride ldc) = A·B (+ bias[N] if not null), or C += A·B when accumulate. Parallel over the
    /// shared pool: the output is split into ranges of column (or row) tiles, several per thread.
    /// </summary>
    internal static void Gemm(WorkerPool pool, float* c, int ldc, Operand a, Operand b, float* bias, int M, int K, int N, bool accumulate,
        float* prepacked = null, int prepackedN = 0)
    {
        if (M <= 0 || N <= 0) return;
        int nr = NR;
        int tilesN = (N + nr - 1) / nr, tilesM = (M + MR - 1) / MR;
        int T = pool.ThreadCount;
        var op = new GemmOp { C = c, Ldc = ldc, A = a, B = b, Bias = bias, M = M, K = K, N = N, Accumulate = accumulate, Pre = prepacked, PreN = prepackedN };
        // A pre-packed B is not packed again by a thread split, so it only splits K when K is very long.
        if (K >= (prepacked == null ? SplitKMinK : 2 * SplitKMinK) && (long)M * N <= SplitKMaxC)
        {
            GemmSplitK(pool, c, ldc, a, b, bias, M, K, N, accumulate, prepacked, prepackedN);
            return;
        }
        if (T == 1 || (long)M * N * Math.Max(K, 1) < 1 << 16)
        {
            GemmSerial(c, ldc, a, b, bias, M, K, N, accumulate, prepacked, prepackedN, 0);
            return;
        }
        double imbN = Imbalance(tilesN, T), imbM = Imbalance(tilesM, T);
        // Splitting columns makes every thread pack all of A, splitting rows all of B. When that duplicate work is
        // large, pack B once, in parallel, into the caller's scratch, then split rows over the packed B.
        if (prepacked == null && tilesM >= 4 * T && (long)Math.Min(M, N) * K >= SharedPackMin && PackedSize(K, N) <= SharedPackMax)
        {
            float* shared = ThreadScratch.Get(ScratchShared, (nint)PackedSize(K, N));
            PackAll(pool, shared, b, K, N);
            op.Pre = shared;
            op.PreN = (N + nr - 1) / nr * nr;
            op.SplitRows = true;
            // Each range streams the packed B again: cheap while it stays in L3, and more ranges absorb a thread that runs
            // late; a B larger than that is streamed once per thread.
            pool.For(tilesM, ref op, minPerThread: 2, rangesPerThread: PackedSize(K, N) <= CachedPackedB ? WorkerPool.DefaultRangesPerThread : 1);
            return;
        }
        // Split the dimension that balances better; prefer columns (then B is packed once, not per thread).
        op.SplitRows = imbM + 0.05 < imbN;
        pool.For(op.SplitRows ? tilesM : tilesN, ref op);
    }

    // Split-K: inner dimensions from this long (twice that with B pre-packed) with outputs of at most this many floats,
    // in at most SplitKRanges ranges.
    const int SplitKMinK = 8 * KC, SplitKMaxC = 1 << 20, SplitKRanges = 16;

    /// <summary>
    /// A small C over a long K (the LM head's input gradient, 524×288 over K = 32000; a layer's weight gradient,
    /// 288×288 over 2048 tokens). Splitting rows or columns would make each thread stream all of B (or pass over C
    /// once per K block), and two ranges leave a late thread nobody to help it; instead K is cut into a fixed number of
    /// ranges of whole K blocks, each range's product goes to its own partial buffer, and C (+)= Σ partials in range
    /// order. The ranges do not depend on the thread count, so neither do the results.
    /// </summary>
    static void GemmSplitK(WorkerPool pool, float* c, int ldc, Operand a, Operand b, float* bias, int M, int K, int N, bool accumulate,
        float* prepacked, int prepackedN)
    {
        int kcb = KcFor(K), blocks = (K + kcb - 1) / kcb, ranges = Math.Min(SplitKRanges, blocks);
        float* partials = ThreadScratch.Get(ScratchSplitK, (nint)ranges * M * N);
        var op = new SplitKOp { P = partials, A = a, B = b, M = M, K = K, N = N, Kcb = kcb, Blocks = blocks, Ranges = ranges, Pre = prepacked, PreN = prepackedN };
        pool.For(ranges, ref op);
        var sum = new SplitKSumOp { C = c, Ldc = ldc, P = partials, Bias = bias, M = M, N = N, Ranges = ranges, Accumulate = accumulate };
        pool.For(M, ref sum, minPerThread: Math.Max(1, 4096 / Math.Max(1, N)));
    }

    struct SplitKOp : IParallelOp
    {
        public float* P, Pre;
        public Operand A, B;
        public int M, K, N, Kcb, Blocks, Ranges, PreN;

        public readonly void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                int k0 = (int)((long)Blocks * r / Ranges) * Kcb, k1 = Math.Min(K, (int)((long)Blocks * (r + 1) / Ranges) * Kcb);
                GemmSerial(P + (nint)r * M * N, N, A.Offset(0, k0), Pre == null ? B.Offset(k0, 0) : B, null, M, k1 - k0, N, accumulate: false,
                    Pre == null ? null : Pre + (nint)k0 * PreN, PreN, 0, Kcb);
            }
        }
    }

    struct SplitKSumOp : IParallelOp
    {
        public float* C, P, Bias;
        public int Ldc, M, N, Ranges;
        public bool Accumulate;

        public readonly void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                var dst = new Span<float>(C + (nint)i * Ldc, N);
                if (!Accumulate)
                {
                    if (Bias == null) dst.Clear();
                    else new ReadOnlySpan<float>(Bias, N).CopyTo(dst);
                }
                for (int r = 0; r < Ranges; r++)
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, new ReadOnlySpan<float>(P + ((nint)r * M + i) * N, N), dst);
            }
        }
    }

    // Duplicate packing worth avoiding (floats), the largest B packed whole, and the largest streamed again per range (16 MiB).
    const long SharedPackMin = 1 << 16, SharedPackMax = 1 << 26, CachedPackedB = 1 << 22;

    static double Imbalance(int tiles, int threads) => tiles < threads ? threads : (double)((tiles + threads - 1) / threads) * threads / tiles;

    struct GemmOp : IParallelOp
    {
        public float* C; public int Ldc;
        public Operand A, B;
        public float* Bias;
        public int M, K, N;
        public bool Accumulate, SplitRows;
        public float* Pre; public int PreN;

        public readonly void Execute(int start, int end)
        {
            if (SplitRows)
            {
                int i0 = start * MR, i1 = Math.Min(M, end * MR);
                GemmSerial(C + (nint)i0 * Ldc, Ldc, A.Offset(i0, 0), B, Bias, i1 - i0, K, N, Accumulate, Pre, PreN, 0);
            }
            else
            {
                int nr = NR;
                int j0 = start * nr, j1 = Math.Min(N, end * nr);
                GemmSerial(C + j0, Ldc, A, B.Offset(0, j0), Bias == null ? null : Bias + j0, M, K, j1 - j0, Accumulate, Pre, PreN, j0);
            }
        }
    }

    /// <summary>
    /// One thread's GEMM: the five BLIS loops around the micro-kernel. With <paramref name="pre"/> B is already packed
    /// (PackedWeight layout: block pc at pre + pc·preN, panel of column j at + j·kc) and this call covers its columns from preCol0.
    /// </summary>
    internal static void GemmSerial(float* c, int ldc, Operand a, Operand b, float* bias, int M, int K, int N, bool accumulate,
        float* pre, int preN, int preCol0, int kBlock = 0)
    {
        if (M <= 0 || N <= 0) return;
        if (K == 0)
        {
            if (!accumulate)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) c[(nint)i * ldc + j] = bias == null ? 0f : bias[j];
            return;
        }
        int nr = NR;
        int kcb = kBlock > 0 ? kBlock : KcFor(K);   // kBlock: a K range of a longer product, in its packed blocks
        int ncMax = Math.Min(NC, (N + nr - 1) / nr * nr), kcMax = Math.Min(kcb, K), mcMax = Math.Min(MC, (M + MR - 1) / MR * MR);
        float* bp = pre != null ? null : ThreadScratch.Get(ScratchB, (nint)kcMax * ncMax);
        float* ap = ThreadScratch.Get(ScratchA, (nint)kcMax * mcMax + 8);   // + 8: Transpose6x8 spill
        float* tile = stackalloc float[MR * 32];
        // A pre-packed B over a tall, narrow C (the LM head's weight gradient: 32000 × 288, K = the chunk's tokens) runs
        // each C block through all of K before the next (TallMc rows × N stay in L2) instead of sweeping all of C from
        // memory once per K block.
        bool rowsOuter = pre != null && K > kcb && M > TallMc && N <= TallMaxN;
        for (int jc = 0; jc < N; jc += NC)
        {
            int nc = Math.Min(NC, N - jc);
            if (rowsOuter)
            {
                for (int ic = 0; ic < M; ic += TallMc)
                {
                    int mc = Math.Min(TallMc, M - ic);
                    for (int pc = 0; pc < K; pc += kcb)
                    {
                        int kc = Math.Min(kcb, K - pc);
                        bool acc = accumulate || pc > 0;
                        GemmBlock(c, ldc, a, pre + (nint)pc * preN + (nint)(preCol0 + jc) * kc, ap, tile, acc || bias == null ? null : bias + jc,
                            ic, mc, pc, kc, jc, nc, acc);
                    }
                }
                continue;
            }
            for (int pc = 0; pc < K; pc += kcb)
            {
                int kc = Math.Min(kcb, K - pc);
                if (pre != null) bp = pre + (nint)pc * preN + (nint)(preCol0 + jc) * kc;
                else PackB(bp, b.Offset(pc, jc), kc, nc);
                bool acc = accumulate || pc > 0;
                float* bs = acc || bias == null ? null : bias + jc;
                for (int ic = 0; ic < M; ic += MC)
                    GemmBlock(c, ldc, a, bp, ap, tile, bs, ic, Math.Min(MC, M - ic), pc, kc, jc, nc, acc);
            }
        }
    }

    // Rows of C per block when C blocks run through all of K, and the widest such C: TallMc×N of C plus TallMc×KC of A
    // stay within L2 (736 KiB at N = 512).
    const int TallMc = MR * 40, TallMaxN = 512;

    /// <summary>C[ic.., jc..] (+)= A[ic.., pc..] · B-block for one mc×kc block of A against the packed kc×nc block bp.</summary>
    static void GemmBlock(float* c, int ldc, Operand a, float* bp, float* ap, float* tile, float* bs, int ic, int mc, int pc, int kc,
        int jc, int nc, bool acc)
    {
        int nr = NR;
        // Full 6-row panels of A are read in place by the AVX-512 kernel when A's rows or columns are
        // contiguous (broadcasts need no packed copy); only a last partial panel is packed, zero-padded.
        int full = mc / MR * MR;
        bool direct = DirectA(a);
        if (!direct) PackA(ap, a.Offset(ic, pc), mc, kc);
        else if (full < mc) PackA(ap + (nint)full * kc, a.Offset(ic + full, pc), mc - full, kc);
        for (int jr = 0; jr < nc; jr += nr)
        {
            int nrr = Math.Min(nr, nc - jr);
            float* bpanel = bp + (nint)jr * kc;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int mr = Math.Min(MR, mc - ir);
                float* ct = c + (nint)(ic + ir) * ldc + jc + jr;
                float* apanel = ap + (nint)ir * kc;
                if (Level == Isa.V512 && mr == MR)
                {
                    // Full rows: A in place (or packed: strides 1, MR), the 32-wide kernel, or the 16-wide one
                    // for a last panel of at most 16 columns (head size 48 = 32 + 16) instead of a half-empty tile.
                    float* ad = direct ? a.P + (ic + ir) * a.Rs + pc * a.Cs : apanel;
                    nint ars = direct ? a.Rs : 1, acs = direct ? a.Cs : MR;
                    float* bsj = bs == null ? null : bs + jr;
                    if (nrr == nr) Micro512(kc, ad, ars, acs, bpanel, ct, ldc, bsj, acc);
                    else if (nrr == 16) Micro512x16(kc, ad, ars, acs, bpanel, ct, ldc, bsj, acc);
                    else
                    {
                        if (nrr < 16) Micro512x16(kc, ad, ars, acs, bpanel, tile, nr, null, false);
                        else Micro512(kc, ad, ars, acs, bpanel, tile, nr, null, false);
                        AddTile(ct, ldc, tile, nr, mr, nrr, acc, bsj);
                    }
                }
                else if (mr == MR && nrr == nr)
                    Micro(kc, apanel, bpanel, ct, ldc, bs == null ? null : bs + jr, acc);
                else
                {
                    Micro(kc, apanel, bpanel, tile, nr, null, false);
                    AddTile(ct, ldc, tile, nr, mr, nrr, acc, bs == null ? null : bs + jr);
                }
            }
        }
    }

    // A read in place (no packed copy) by the AVX-512 kernel: row-major A, or Aᵀ (columns contiguous). Even the LM
    // head's weight gradient, whose Aᵀ steps 128 KiB per k, runs faster this way (25.6 against 28.5 ms per 524-row chunk).
    // Not row-major rows a multiple of 2 KiB apart (1024², 4096²): a tile's six rows would share L1 sets with each
    // other and the B panel (sgemm 1024³ and 4096³ ran 2 to 6% slower read in place).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool DirectA(Operand a) => Level == Isa.V512 && ((a.Cs == 1 && a.Rs % 512 != 0) || a.Rs == 1);

    /// <summary>C[r, j] (+)= tile[r, j] for the mr×nrr corner of a partial tile (bias added when not accumulating).</summary>
    static void AddTile(float* ct, int ldc, float* tile, int nr, int mr, int nrr, bool acc, float* bias)
    {
        for (int r = 0; r < mr; r++)
        {
            float* dst = ct + (nint)r * ldc, src = tile + r * nr;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + 16 <= nrr; j += 16)
                {
                    var v = Vector512.Load(src + j);
                    v += acc ? Vector512.Load(dst + j) : bias == null ? Vector512<float>.Zero : Vector512.Load(bias + j);
                    v.Store(dst + j);
                }
            for (; j < nrr; j++) dst[j] = (acc ? dst[j] : bias == null ? 0f : bias[j]) + src[j];
        }
    }

    /// <summary>Packs B (kc, nc) into ceil(nc/NR) panels of kc×NR, row p of a panel contiguous; pads with zeros.</summary>
    internal static void PackB(float* dst, Operand b, int kc, int nc)
    {
        int nr = NR;
        for (int j0 = 0; j0 < nc; j0 += nr)
        {
            int w = Math.Min(nr, nc - j0);
            float* panel = dst + (nint)j0 * kc;
            if (b.Cs == 1)
            {
                // Rows of B are contiguous (B row-major): copy NR-wide row segments.
                if (Level == Isa.V512 && (w == 32 || w == 16))
                {
                    // 32 or 16 columns: one or two vector moves per row (a 16-wide panel is zero-padded).
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = b.P + p * b.Rs + j0;
                        float* d = panel + p * 32;
                        Vector512.Load(src).StoreAligned(d);
                        (w == 32 ? Vector512.Load(src + 16) : Vector512<float>.Zero).StoreAligned(d + 16);
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++)
                {
                    float* src = b.P + p * b.Rs + j0;
                    float* d = panel + p * nr;
                    if (w == nr) new ReadOnlySpan<float>(src, nr).CopyTo(new Span<float>(d, nr));
                    else
                    {
                        for (int j = 0; j < w; j++) d[j] = src[j];
                        for (int j = w; j < nr; j++) d[j] = 0f;
                    }
                }
            }
            else if (w == nr && b.Rs == 1 && Avx.IsSupported && Level >= Isa.V256)
            {
                // B = Wᵀ with full panels: 8×8 register transposes of W rows into panel rows.
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                    for (int g = 0; g < nr; g += 8)
                        Transpose8x8(b.P + (nint)(j0 + g) * b.Cs + p, b.Cs, panel + (nint)p * nr + g, nr);
                for (; p < kc; p++)
                    for (int j = 0; j < nr; j++) panel[p * nr + j] = b.P[(j0 + j) * b.Cs + p];
            }
            else
            {
                // Columns of B are contiguous (B = Wᵀ, W row-major): walk each W row, scatter into the panel.
                for (int j = 0; j < w; j++)
                {
                    float* src = b.P + (j0 + j) * b.Cs;
                    nint rs = b.Rs;
                    float* d = panel + j;
                    for (int p = 0; p < kc; p++) d[p * nr] = src[p * rs];
                }
                for (int j = w; j < nr; j++)
                    for (int p = 0; p < kc; p++) panel[p * nr + j] = 0f;
            }
        }
    }

    /// <summary>Packs A (mc, kc) into ceil(mc/MR) panels of kc×MR, column p of a panel contiguous; pads with zeros.</summary>
    static void PackA(float* dst, Operand a, int mc, int kc)
    {
        for (int i0 = 0; i0 < mc; i0 += MR)
        {
            int h = Math.Min(MR, mc - i0);
            float* panel = dst + (nint)i0 * kc;
            if (a.Cs == 1 && h == MR && Avx.IsSupported && Level >= Isa.V256)
            {
                // x row-major, full panel: 8×8 transposes of rows (r0..r5, r5, r5); each 8-wide store spills two
                // floats into the next column, which the next store overwrites (the buffer has slack for the last).
                int p = 0;
                float* s0 = a.P + i0 * a.Rs, s5 = s0 + 5 * a.Rs;
                for (; p + 8 <= kc; p += 8)
                    Transpose6x8(s0 + p, a.Rs, s5 + p, panel + p * MR);
                for (; p < kc; p++)
                    for (int r = 0; r < MR; r++) panel[p * MR + r] = s0[r * a.Rs + p];
            }
            else if (a.Cs == 1)
            {
                for (int r = 0; r < h; r++)
                {
                    float* src = a.P + (i0 + r) * a.Rs;
                    float* d = panel + r;
                    for (int p = 0; p < kc; p++) d[p * MR] = src[p];
                }
            }
            else if (a.Rs == 1 && h == MR && i0 + 8 <= mc && Level >= Isa.V256)
            {
                // A = Xᵀ (columns of A contiguous): 8-float copies per p; the 2 extra floats land in the next column
                // (overwritten by it) or, after the last, in the next panel's first column (packed next).
                for (int p = 0; p < kc; p++)
                    Vector256.Load(a.P + p * a.Cs + i0).Store(panel + p * MR);
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a.P + p * a.Cs + i0 * a.Rs;
                    float* d = panel + p * MR;
                    for (int r = 0; r < h; r++) d[r] = src[r * a.Rs];
                }
            }
            for (int r = h; r < MR; r++)
                for (int p = 0; p < kc; p++) panel[p * MR + r] = 0f;
        }
    }

    /// <summary>dst[t*ldd + i] = src[i*lds + t] for an 8×8 block (AVX unpack/shuffle/permute transpose).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(float* src, nint lds, float* dst, nint ldd)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(src + 5 * lds);
        var r6 = Avx.LoadVector256(src + 6 * lds); var r7 = Avx.LoadVector256(src + 7 * lds);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>Packs 6 rows × 8 columns: dst[t*6 + r] = src[r*lds + t], writing 8 floats per column t (2 spill).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose6x8(float* src, nint lds, float* row5, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(row5);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t4, 0x44); var s5 = Avx.Shuffle(t4, t4, 0xEE);
        var s6 = Avx.Shuffle(t5, t5, 0x44); var s7 = Avx.Shuffle(t5, t5, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + 6, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 12, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 18, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 24, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 30, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 36, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 42, Avx.Permute2x128(s3, s7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Micro(int kc, float* a, float* b, float* c, int ldc, float* bias, bool acc)
    {
        if (Level == Isa.V512) Micro512(kc, a, b, c, ldc, bias, acc);
        else if (Level == Isa.V256) Micro256(kc, a, b, c, ldc, bias, acc);
        else if (Level == Isa.V128) Micro128(kc, a, b, c, ldc, bias, acc);
        else MicroScalar(kc, a, b, c, ldc, bias, acc);
    }

    /// <summary>6×32 tile: C[r, 0..32] (+)= Σ_p a[p, r] · b[p, 0..32], twelve Vector512 accumulators.</summary>
    static void Micro512(int kc, float* a, float* b, float* c, int ldc, float* bias, bool acc)
        => Micro512(kc, a, 1, MR, b, c, ldc, bias, acc);

    /// <summary>6×32 tile with A read in place: element (r, p) of the panel at a[r·ars + p·acs] (packed: 1, MR).</summary>
    static void Micro512(int kc, float* a, nint ars, nint acs, float* b, float* c, int ldc, float* bias, bool acc)
    {
        nint a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (acc)
        {
            nint l = ldc;
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + l); c11 = Vector512.Load(c + l + 16);
            c20 = Vector512.Load(c + 2 * l); c21 = Vector512.Load(c + 2 * l + 16);
            c30 = Vector512.Load(c + 3 * l); c31 = Vector512.Load(c + 3 * l + 16);
            c40 = Vector512.Load(c + 4 * l); c41 = Vector512.Load(c + 4 * l + 16);
            c50 = Vector512.Load(c + 5 * l); c51 = Vector512.Load(c + 5 * l + 16);
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector512.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector512.Load(bias + 16);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector512<float>.Zero;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);
            var av = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(av, b0, c00); c01 = Avx512F.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[a1]);
            c10 = Avx512F.FusedMultiplyAdd(av, b0, c10); c11 = Avx512F.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[a2]);
            c20 = Avx512F.FusedMultiplyAdd(av, b0, c20); c21 = Avx512F.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[a3]);
            c30 = Avx512F.FusedMultiplyAdd(av, b0, c30); c31 = Avx512F.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[a4]);
            c40 = Avx512F.FusedMultiplyAdd(av, b0, c40); c41 = Avx512F.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[a5]);
            c50 = Avx512F.FusedMultiplyAdd(av, b0, c50); c51 = Avx512F.FusedMultiplyAdd(av, b1, c51);
            a += acs; b += 32;
        }
        {
            nint l = ldc;
            c00.Store(c); c01.Store(c + 16);
            c10.Store(c + l); c11.Store(c + l + 16);
            c20.Store(c + 2 * l); c21.Store(c + 2 * l + 16);
            c30.Store(c + 3 * l); c31.Store(c + 3 * l + 16);
            c40.Store(c + 4 * l); c41.Store(c + 4 * l + 16);
            c50.Store(c + 5 * l); c51.Store(c + 5 * l + 16);
        }
    }

    /// <summary>6×16 tile (the first 16 columns of a 32-wide B panel), A read at a[r·ars + p·acs]: six accumulators.</summary>
    static void Micro512x16(int kc, float* a, nint ars, nint acs, float* b, float* c, int ldc, float* bias, bool acc)
    {
        nint a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars, l = ldc;
        Vector512<float> c0, c1, c2, c3, c4, c5;
        if (acc)
        {
            c0 = Vector512.Load(c); c1 = Vector512.Load(c + l); c2 = Vector512.Load(c + 2 * l);
            c3 = Vector512.Load(c + 3 * l); c4 = Vector512.Load(c + 4 * l); c5 = Vector512.Load(c + 5 * l);
        }
        else if (bias != null) c0 = c1 = c2 = c3 = c4 = c5 = Vector512.Load(bias);
        else c0 = c1 = c2 = c3 = c4 = c5 = Vector512<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[a1]), b0, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[a2]), b0, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[a3]), b0, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[a4]), b0, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[a5]), b0, c5);
            a += acs; b += 32;
        }
        c0.Store(c); c1.Store(c + l); c2.Store(c + 2 * l);
        c3.Store(c + 3 * l); c4.Store(c + 4 * l); c5.Store(c + 5 * l);
    }

    /// <summary>6×16 tile with twelve Vector256 FMA accumulators (AVX2 + FMA).</summary>
    static void Micro256(int kc, float* a, float* b, float* c, int ldc, float* bias, bool acc)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        nint l = ldc;
        if (acc)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8);
            c10 = Vector256.Load(c + l); c11 = Vector256.Load(c + l + 8);
            c20 = Vector256.Load(c + 2 * l); c21 = Vector256.Load(c + 2 * l + 8);
            c30 = Vector256.Load(c + 3 * l); c31 = Vector256.Load(c + 3 * l + 8);
            c40 = Vector256.Load(c + 4 * l); c41 = Vector256.Load(c + 4 * l + 8);
            c50 = Vector256.Load(c + 5 * l); c51 = Vector256.Load(c + 5 * l + 8);
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector256.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector256.Load(bias + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += MR; b += 16;
        }
        c00.Store(c); c01.Store(c + 8);
        c10.Store(c + l); c11.Store(c + l + 8);
        c20.Store(c + 2 * l); c21.Store(c + 2 * l + 8);
        c30.Store(c + 3 * l); c31.Store(c + 3 * l + 8);
        c40.Store(c + 4 * l); c41.Store(c + 4 * l + 8);
        c50.Store(c + 5 * l); c51.Store(c + 5 * l + 8);
    }

    /// <summary>6×8 tile with twelve Vector128 accumulators (SSE; FMA when available).</summary>
    static void Micro128(int kc, float* a, float* b, float* c, int ldc, float* bias, bool acc)
    {
        Vector128<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        nint l = ldc;
        if (acc)
        {
            c00 = Vector128.Load(c); c01 = Vector128.Load(c + 4);
            c10 = Vector128.Load(c + l); c11 = Vector128.Load(c + l + 4);
            c20 = Vector128.Load(c + 2 * l); c21 = Vector128.Load(c + 2 * l + 4);
            c30 = Vector128.Load(c + 3 * l); c31 = Vector128.Load(c + 3 * l + 4);
            c40 = Vector128.Load(c + 4 * l); c41 = Vector128.Load(c + 4 * l + 4);
            c50 = Vector128.Load(c + 5 * l); c51 = Vector128.Load(c + 5 * l + 4);
        }
        else if (bias != null)
        {
            c00 = c10 = c20 = c30 = c40 = c50 = Vector128.Load(bias);
            c01 = c11 = c21 = c31 = c41 = c51 = Vector128.Load(bias + 4);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector128<float>.Zero;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var av = Vector128.Create(a[0]);
            c00 = Fma128(av, b0, c00); c01 = Fma128(av, b1, c01);
            av = Vector128.Create(a[1]);
            c10 = Fma128(av, b0, c10); c11 = Fma128(av, b1, c11);
            av = Vector128.Create(a[2]);
            c20 = Fma128(av, b0, c20); c21 = Fma128(av, b1, c21);
            av = Vector128.Create(a[3]);
            c30 = Fma128(av, b0, c30); c31 = Fma128(av, b1, c31);
            av = Vector128.Create(a[4]);
            c40 = Fma128(av, b0, c40); c41 = Fma128(av, b1, c41);
            av = Vector128.Create(a[5]);
            c50 = Fma128(av, b0, c50); c51 = Fma128(av, b1, c51);
            a += MR; b += 8;
        }
        c00.Store(c); c01.Store(c + 4);
        c10.Store(c + l); c11.Store(c + l + 4);
        c20.Store(c + 2 * l); c21.Store(c + 2 * l + 4);
        c30.Store(c + 3 * l); c31.Store(c + 3 * l + 4);
        c40.Store(c + 4 * l); c41.Store(c + 4 * l + 4);
        c50.Store(c + 5 * l); c51.Store(c + 5 * l + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Fma128(Vector128<float> a, Vector128<float> b, Vector128<float> c)
        => Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>6×8 tile in plain scalar code (no hardware intrinsics).</summary>
    static void MicroScalar(int kc, float* a, float* b, float* c, int ldc, float* bias, bool acc)
    {
        const int W = 8;
        Debug.Assert(NR == W);
        float* t = stackalloc float[MR * W];
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < W; j++)
                t[r * W + j] = acc ? c[(nint)r * ldc + j] : bias != null ? bias[j] : 0f;
        for (int p = 0; p < kc; p++)
        {
            for (int r = 0; r < MR; r++)
            {
                float av = a[r];
                for (int j = 0; j < W; j++) t[r * W + j] += av * b[j];
            }
            a += MR; b += W;
        }
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < W; j++) c[(nint)r * ldc + j] = t[r * W + j];
    }
}
