// Causal scaled dot-product attention (Vaswani et al. 2017) with grouped-query heads (Ainslie et al. 2023)
// over a key/value cache, with optional segment ids for packed sequences. scale = 1/sqrt(hs).
// One work item per (head, query row): scores over the visible cache rows, stable softmax, weighted sum of v.
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static unsafe class Attention
{
    const int ScratchScores = 2, ScratchDp = 3;

    // Many query rows (prefill, training) go through the GEMM micro-kernel in blocks of BlockRows queries:
    // S = q·kᵀ, softmax, O = P·v, and the backward products, instead of one dot product per (query, key).
    internal const int GemmMinRows = 16, BlockRows = 64;

    // output, q (tq, nh*hs); k, v (tk, nkv*hs), one row per key position; query i sits at key position qPos0 + i
    // and attends keys 0..qPos0+i; query head h reads kv head h / (nh/nkv).
    // segmentIds: empty = one sequence, else (tk) and query i only attends keys with the same id as position qPos0+i.
    // probs: empty, or (nh, tq, tk) receiving the softmax (zeros where masked) for the backward pass.
    public static void Forward(Span<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int tq, int tk, int nh, int nkv, int hs, int qPos0, ReadOnlySpan<int> segmentIds, Span<float> probs)
        => Forward(output, q, k, v, 1, tq, tk, nh, nkv, hs, qPos0, segmentIds, probs);

    // The same for `batch` independent sequences stored one after another (output, q (batch·tq, nh*hs); k, v
    // (batch·tk, nkv*hs); segmentIds empty or (batch·tk); probs empty or (batch, nh, tq, tk)): one parallel loop over
    // every (sequence, head, query block), so the threads share out the whole batch instead of one sequence at a time.
    public static void Forward(Span<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int batch, int tq, int tk, int nh, int nkv, int hs, int qPos0, ReadOnlySpan<int> segmentIds, Span<float> probs)
    {
        Debug.Assert(batch >= 1 && nkv > 0 && nh % nkv == 0 && qPos0 >= 0 && qPos0 + tq <= tk);
        Debug.Assert(output.Length >= batch * tq * nh * hs && q.Length >= batch * tq * nh * hs && k.Length >= batch * tk * nkv * hs && v.Length >= batch * tk * nkv * hs);
        Debug.Assert(segmentIds.IsEmpty || segmentIds.Length >= batch * tk);
        Debug.Assert(probs.IsEmpty || probs.Length >= batch * nh * tq * tk);
        if (tq == 0 || nh == 0 || hs == 0) return;
        if (tq < GemmMinRows && batch > 1)
        {
            int qn = tq * nh * hs, kn = tk * nkv * hs, pn = nh * tq * tk;
            for (int b = 0; b < batch; b++)
                Forward(output.Slice(b * qn, qn), q.Slice(b * qn, qn), k.Slice(b * kn, kn), v.Slice(b * kn, kn), 1, tq, tk, nh, nkv, hs, qPos0,
                    segmentIds.IsEmpty ? default : segmentIds.Slice(b * tk, tk), probs.IsEmpty ? default : probs.Slice(b * pn, pn));
            return;
        }
        fixed (float* op = output, qp = q, kp = k, vp = v, pp = probs)
        fixed (int* sp = segmentIds)
        {
            if (tq >= GemmMinRows)
            {
                var blocked = new ForwardBlockOp
                {
                    Out = op, Q = qp, K = kp, V = vp, Probs = probs.IsEmpty ? null : pp, Seg = segmentIds.IsEmpty ? null : sp,
                    Tq = tq, Tk = tk, Nh = nh, Nkv = nkv, Hs = hs, QPos0 = qPos0, Scale = 1f / MathF.Sqrt(hs),
                    Blocks = (tq + BlockRows - 1) / BlockRows,
                };
                WorkerPool.Shared.For(batch * nh * blocked.Blocks, ref blocked, 1, rangesPerThread: 4);
                return;
            }
            var work = new ForwardOp
            {
                Out = op, Q = qp, K = kp, V = vp, Probs = probs.IsEmpty ? null : pp, Seg = segmentIds.IsEmpty ? null : sp,
                Tq = tq, Tk = tk, Nh = nh, Nkv = nkv, Hs = hs, QPos0 = qPos0, Scale = 1f / MathF.Sqrt(hs),
            };
            // Rows cost ~4·hs·(visible keys) flops; keep a few thousand flops per range at least.
            int minRows = Math.Max(1, 8192 / Math.Max(1, hs * (qPos0 + 1)));
            WorkerPool.Shared.For(nh * tq, ref work, minRows, rangesPerThread: 4);
        }
    }

    struct ForwardOp : IParallelOp
    {
        public float* Out, Q, K, V, Probs;
        public int* Seg;
        public int Tq, Tk, Nh, Nkv, Hs, QPos0;
        public float Scale;

        public readonly void Execute(int start, int end)
        {
            int hs = Hs, tk = Tk, qC = Nh * hs, kvC = Nkv * hs, group = Nh / Nkv;
            float* scratch = Probs == null ? ThreadScratch.Get(ScratchScores, tk) : null;
            for (int item = start; item < end; item++)
            {
                int h = item / Tq, i = item % Tq, pos = QPos0 + i;
                float* qrow = Q + (nint)i * qC + h * hs;
                float* orow = Out + (nint)i * qC + h * hs;
                float* kbase = K + (nint)(h / group) * hs;
                float* vbase = V + (nint)(h / group) * hs;
                float* s = Probs == null ? scratch : Probs + ((nint)h * Tq + i) * tk;
                int seg = Seg == null ? 0 : Seg[pos];
                // Scores of the visible keys j <= pos (same segment); masked entries marked -inf.
                float max = float.NegativeInfinity;
                for (int j = 0; j <= pos; j++)
                {
                    if (Seg != null && Seg[j] != seg) { s[j] = float.NegativeInfinity; continue; }
                    float sc = MatMul.Dot(qrow, kbase + (nint)j * kvC, hs) * Scale;
                    s[j] = sc;
                    if (sc > max) max = sc;
                }
                var row = new Span<float>(s, pos + 1);
                double sum = Softmax.ExpShiftedSum(s, pos + 1, max);   // exp(-inf) = 0 for masked keys
                TensorPrimitives.Multiply(row, (float)(1.0 / sum), row);
                if (Probs != null && pos + 1 < tk) new Span<float>(s + pos + 1, tk - pos - 1).Clear();
                new Span<float>(orow, hs).Clear();
                for (int j = 0; j <= pos; j++)
                {
                    float p = s[j];
                    if (p != 0f) Axpy(orow, p, vbase + (nint)j * kvC, hs);
                }
            }
        }
    }

    // Gradients from the saved probs P (nh, tq, tk) of Forward (S = scale·q·kᵀ masked, O = P·v), accumulated:
    // dv += Pᵀ·dO;  dP = dO·vᵀ;  dS = P ⊙ (dP - Σ_j P·dP);  dq += scale·dS·k;  dk += scale·dSᵀ·q.
    // dq, dout, q (tq, nh*hs); dk, dv, k, v (tk, nkv*hs). Masked keys have P = 0 and get no gradient.
    // Parallel over kv heads: each owns its dk/dv columns and the dq of its query heads.
    public static void Backward(Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dout,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> probs,
        int tq, int tk, int nh, int nkv, int hs, int qPos0)
        => Backward(dq, dk, dv, dout, q, k, v, probs, 1, tq, tk, nh, nkv, hs, qPos0);

    // The same for `batch` sequences stored one after another (layouts as the batched Forward): one parallel loop over
    // every (sequence, kv head).
    public static void Backward(Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dout,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> probs,
        int batch, int tq, int tk, int nh, int nkv, int hs, int qPos0)
    {
        Debug.Assert(batch >= 1 && nkv > 0 && nh % nkv == 0 && qPos0 >= 0 && qPos0 + tq <= tk && probs.Length >= batch * nh * tq * tk);
        Debug.Assert(dq.Length >= batch * tq * nh * hs && dout.Length >= batch * tq * nh * hs && q.Length >= batch * tq * nh * hs);
        Debug.Assert(dk.Length >= batch * tk * nkv * hs && dv.Length >= batch * tk * nkv * hs && k.Length >= batch * tk * nkv * hs && v.Length >= batch * tk * nkv * hs);
        if (tq == 0 || nh == 0 || hs == 0) return;
        if (tq < GemmMinRows && batch > 1)
        {
            int qn = tq * nh * hs, kn = tk * nkv * hs, pn = nh * tq * tk;
            for (int b = 0; b < batch; b++)
                Backward(dq.Slice(b * qn, qn), dk.Slice(b * kn, kn), dv.Slice(b * kn, kn), dout.Slice(b * qn, qn), q.Slice(b * qn, qn),
                    k.Slice(b * kn, kn), v.Slice(b * kn, kn), probs.Slice(b * pn, pn), 1, tq, tk, nh, nkv, hs, qPos0);
            return;
        }
        fixed (float* dqp = dq, dkp = dk, dvp = dv, dop = dout, qp = q, kp = k, vp = v, pp = probs)
        {
            if (tq >= GemmMinRows)
            {
                var blocked = new BackwardBlockOp
                {
                    DQ = dqp, DK = dkp, DV = dvp, DOut = dop, Q = qp, K = kp, V = vp, Probs = pp,
                    Tq = tq, Tk = tk, Nh = nh, Nkv = nkv, Hs = hs, QPos0 = qPos0, Scale = 1f / MathF.Sqrt(hs),
                };
                WorkerPool.Shared.For(batch * nkv, ref blocked, 1, rangesPerThread: batch > 1 ? 4 : 1);
                return;
            }
            var work = new BackwardOp
            {
                DQ = dqp, DK = dkp, DV = dvp, DOut = dop, Q = qp, K = kp, V = vp, Probs = pp,
                Tq = tq, Tk = tk, Nh = nh, Nkv = nkv, Hs = hs, QPos0 = qPos0, Scale = 1f / MathF.Sqrt(hs),
            };
            WorkerPool.Shared.For(nkv, ref work);
        }
    }

    struct BackwardOp : IParallelOp
    {
        public float* DQ, DK, DV, DOut, Q, K, V, Probs;
        public int Tq, Tk, Nh, Nkv, Hs, QPos0;
        public float Scale;

        public readonly void Execute(int start, int end)
        {
            int hs = Hs, tk = Tk, qC = Nh * hs, kvC = Nkv * hs, group = Nh / Nkv;
            float* dp = ThreadScratch.Get(ScratchDp, tk);
            for (int kh = start; kh < end; kh++)
                for (int h = kh * group; h < (kh + 1) * group; h++)
                    for (int i = 0; i < Tq; i++)
                    {
                        int pos = QPos0 + i;
                        float* p = Probs + ((nint)h * Tq + i) * tk;
                        float* dorow = DOut + (nint)i * qC + h * hs;
                        float* qrow = Q + (nint)i * qC + h * hs;
                        float* dqrow = DQ + (nint)i * qC + h * hs;
                        float* kb = K + (nint)kh * hs, vb = V + (nint)kh * hs, dkb = DK + (nint)kh * hs, dvb = DV + (nint)kh * hs;
                        float sum = 0f;
                        for (int j = 0; j <= pos; j++)
                        {
                            if (p[j] == 0f) { dp[j] = 0f; continue; }
                            dp[j] = MatMul.Dot(dorow, vb + (nint)j * kvC, hs);
                            sum += p[j] * dp[j];
                        }
                        for (int j = 0; j <= pos; j++)
                        {
                            float pj = p[j];
                            if (pj == 0f) continue;
                            float ds = pj * (dp[j] - sum) * Scale;
                            Axpy(dqrow, ds, kb + (nint)j * kvC, hs);
                            Axpy(dkb + (nint)j * kvC, ds, qrow, hs);
                            Axpy(dvb + (nint)j * kvC, pj, dorow, hs);
                        }
                    }
        }
    }

    // One work item per (head, block of BlockRows queries): S (rows, kEnd) = q·kᵀ over the keys the block's last query
    // sees, masked softmax per row (into probs when saved, else thread scratch), then O = P·v, all through GemmSerial.
    struct ForwardBlockOp : IParallelOp
    {
        public float* Out, Q, K, V, Probs;
        public int* Seg;
        public int Tq, Tk, Nh, Nkv, Hs, QPos0, Blocks;
        public float Scale;

        public readonly void Execute(int start, int end)
        {
            int hs = Hs, tk = Tk, qC = Nh * hs, kvC = Nkv * hs, group = Nh / Nkv;
            for (int item = start; item < end; item++)
            {
                // item = (sequence, head, block); the costlier late blocks of a head come first.
                int b = item / (Nh * Blocks), rest = item % (Nh * Blocks);
                int h = rest / Blocks, i0 = (Blocks - 1 - rest % Blocks) * BlockRows, rows = Math.Min(BlockRows, Tq - i0);
                int kEnd = QPos0 + i0 + rows, kh = h / group;
                float* Q = this.Q + (nint)b * Tq * qC, Out = this.Out + (nint)b * Tq * qC;
                float* K = this.K + (nint)b * tk * kvC, V = this.V + (nint)b * tk * kvC;
                int* Seg = this.Seg == null ? null : this.Seg + (nint)b * tk;
                float* s;
                int lds;
                if (Probs != null) { s = Probs + (((nint)b * Nh + h) * Tq + i0) * tk; lds = tk; }
                else { s = ThreadScratch.Get(ScratchScores, (nint)BlockRows * tk); lds = kEnd; }
                MatMul.GemmSerial(s, lds, new MatMul.Operand(Q + (nint)i0 * qC + h * hs, qC, 1), new MatMul.Operand(K + kh * hs, 1, kvC),
                    null, rows, hs, kEnd, accumulate: false, null, 0, 0);
                for (int r = 0; r < rows; r++)
                {
                    int pos = QPos0 + i0 + r;
                    float* srow = s + (nint)r * lds;
                    var row = new Span<float>(srow, pos + 1);
                    if (Seg != null)
                    {
                        int seg = Seg[pos];
                        for (int j = 0; j < pos; j++)
                            if (Seg[j] != seg) srow[j] = float.NegativeInfinity;
                    }
                    // The same arithmetic as the per-row path (scaled scores, then the max), so a prompt gives the same
                    // cache whichever path its chunks take.
                    TensorPrimitives.Multiply(row, Scale, row);
                    float max = TensorPrimitives.Max(row);
                    double sum = Softmax.ExpShiftedSum(srow, pos + 1, max);   // exp(-inf) = 0 for masked keys
                    TensorPrimitives.Multiply(row, (float)(1.0 / sum), row);
                    int rowEnd = Probs != null ? tk : kEnd;
                    if (pos + 1 < rowEnd) new Span<float>(srow + pos + 1, rowEnd - pos - 1).Clear();
                }
                MatMul.GemmSerial(Out + (nint)i0 * qC + h * hs, qC, new MatMul.Operand(s, lds, 1), new MatMul.Operand(V + kh * hs, kvC, 1),
                    null, rows, kEnd, hs, accumulate: false, null, 0, 0);
            }
        }
    }

    // One work item per kv head (it owns its dk/dv columns and the dq of its query heads); per query block:
    // dP = dO·vᵀ, dS = P ⊙ (dP - Σ_j P·dP)·scale, dq += dS·k, dk += dSᵀ·q, dv += Pᵀ·dO, all through GemmSerial.
    struct BackwardBlockOp : IParallelOp
    {
        public float* DQ, DK, DV, DOut, Q, K, V, Probs;
        public int Tq, Tk, Nh, Nkv, Hs, QPos0;
        public float Scale;

        public readonly void Execute(int start, int end)
        {
            int hs = Hs, tk = Tk, qC = Nh * hs, kvC = Nkv * hs, group = Nh / Nkv;
            float* dp = ThreadScratch.Get(ScratchDp, (nint)BlockRows * tk);
            for (int item = start; item < end; item++)
            {
                int b = item / Nkv, kh = item % Nkv;
                nint qo = (nint)b * Tq * qC, ko = (nint)b * tk * kvC;
                float* DQ = this.DQ + qo, DOut = this.DOut + qo, Q = this.Q + qo;
                float* DK = this.DK + ko, DV = this.DV + ko, K = this.K + ko, V = this.V + ko;
                float* Probs = this.Probs + (nint)b * Nh * Tq * tk;
                for (int h = kh * group; h < (kh + 1) * group; h++)
                    for (int i0 = 0; i0 < Tq; i0 += BlockRows)
                    {
                        int rows = Math.Min(BlockRows, Tq - i0), kEnd = QPos0 + i0 + rows;
                        float* p = Probs + ((nint)h * Tq + i0) * tk;
                        float* dO = DOut + (nint)i0 * qC + h * hs, q = Q + (nint)i0 * qC + h * hs;
                        MatMul.GemmSerial(dp, kEnd, new MatMul.Operand(dO, qC, 1), new MatMul.Operand(V + kh * hs, 1, kvC),
                            null, rows, hs, kEnd, accumulate: false, null, 0, 0);
                        for (int r = 0; r < rows; r++)
                        {
                            int n = QPos0 + i0 + r + 1;
                            var prow = new ReadOnlySpan<float>(p + (nint)r * tk, n);
                            var drow = new Span<float>(dp + (nint)r * kEnd, n);
                            float sum = TensorPrimitives.Dot(prow, drow);
                            TensorPrimitives.Subtract(drow, sum, drow);
                            TensorPrimitives.Multiply(drow, prow, drow);
                            TensorPrimitives.Multiply(drow, Scale, drow);
                            if (n < kEnd) new Span<float>(dp + (nint)r * kEnd + n, kEnd - n).Clear();
                        }
                        MatMul.GemmSerial(DQ + (nint)i0 * qC + h * hs, qC, new MatMul.Operand(dp, kEnd, 1), new MatMul.Operand(K + kh * hs, kvC, 1),
                            null, rows, kEnd, hs, accumulate: true, null, 0, 0);
                        MatMul.GemmSerial(DK + kh * hs, kvC, new MatMul.Operand(dp, 1, kEnd), new MatMul.Operand(q, qC, 1),
                            null, kEnd, rows, hs, accumulate: true, null, 0, 0);
                        MatMul.GemmSerial(DV + kh * hs, kvC, new MatMul.Operand(p, 1, tk), new MatMul.Operand(dO, qC, 1),
                            null, kEnd, rows, hs, accumulate: true, null, 0, 0);
                    }
            }
        }
    }

    /// <summary>y[0..n) += a · x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Axpy(float* y, float a, float* x, int n)
    {
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var av = Vector512.Create(a);
            for (; d + 16 <= n; d += 16)
                Vector512.FusedMultiplyAdd(av, Vector512.Load(x + d), Vector512.Load(y + d)).Store(y + d);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var av = Vector256.Create(a);
            for (; d + 8 <= n; d += 8)
                (av * Vector256.Load(x + d) + Vector256.Load(y + d)).Store(y + d);
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var av = Vector128.Create(a);
            for (; d + 4 <= n; d += 4)
                (av * Vector128.Load(x + d) + Vector128.Load(y + d)).Store(y + d);
        }
        for (; d < n; d++) y[d] += a * x[d];
    }
}
