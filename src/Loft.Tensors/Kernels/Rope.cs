// Rotary position embedding (Su et al. 2021) in HF's rotate-half layout, applied in place to q or k:
// for each head, x[j], x[j+hs/2] -> (x[j]·cos - x[j+hs/2]·sin, x[j+hs/2]·cos + x[j]·sin). Backward rotates by -angle.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class Rope
{
    // x (T, nh * hs) in place; positions (T), each < table.MaxPositions.
    public static void Forward(Span<float> x, ReadOnlySpan<int> positions, int nHeads, int headDim, RopeTable table)
        => Rotate(x, x, positions, nHeads, headDim, table, sign: 1f, accumulate: false);

    // y = R(angle)·x, x unchanged (one pass: no copy of x into y first).
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<int> positions, int nHeads, int headDim, RopeTable table)
        => Rotate(y, x, positions, nHeads, headDim, table, sign: 1f, accumulate: false);

    // dx (T, nh*hs) += R(-angle)·dy: the forward rotation is orthogonal, its gradient rotates back.
    public static void Backward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<int> positions, int nHeads, int headDim, RopeTable table)
        => Rotate(dx, dy, positions, nHeads, headDim, table, sign: -1f, accumulate: true);

    /// <summary>In-place gradient of Forward: g (T, nh*hs) = R(-angle)·g (no accumulation).</summary>
    public static void BackwardInPlace(Span<float> g, ReadOnlySpan<int> positions, int nHeads, int headDim, RopeTable table)
        => Rotate(g, g, positions, nHeads, headDim, table, sign: -1f, accumulate: false);

    /// <summary>dst = R(sign·angle)·src, or dst += it; dst may be src (each pair is read before it is written).</summary>
    static void Rotate(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> positions, int nHeads, int headDim, RopeTable table,
        float sign, bool accumulate)
    {
        int T = positions.Length, C = nHeads * headDim;
        Debug.Assert(headDim == table.HeadDim && dst.Length >= T * C && src.Length >= T * C);
        if (Elementwise.Parallel((long)T * C) && T > 1)
        {
            var op = new RotateOp { Dst = dst, Src = src, Positions = positions, NHeads = nHeads, HeadDim = headDim, Table = table, Sign = sign, Accumulate = accumulate, Per = Elementwise.RowsPerBlock(C) };
            WorkerPool.Shared.For((T + op.Per - 1) / op.Per, ref op);
            return;
        }
        RotateRows(dst, src, positions, 0, T, nHeads, headDim, table, sign, accumulate);
    }

    ref struct RotateOp : IParallelOp
    {
        public Span<float> Dst;
        public ReadOnlySpan<float> Src;
        public ReadOnlySpan<int> Positions;
        public int NHeads, HeadDim, Per;
        public RopeTable Table;
        public float Sign;
        public bool Accumulate;

        public readonly void Execute(int start, int end) =>
            RotateRows(Dst, Src, Positions, start * Per, Math.Min(Positions.Length, end * Per), NHeads, HeadDim, Table, Sign, Accumulate);
    }

    static void RotateRows(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> positions, int t0, int t1, int nHeads, int headDim,
        RopeTable table, float sign, bool accumulate)
    {
        int half = headDim / 2, C = nHeads * headDim;
        var cosAll = table.Cos; var sinAll = table.Sin;
        int W = Vector<float>.Count;
        for (int t = t0; t < t1; t++)
        {
            Debug.Assert((uint)positions[t] < (uint)table.MaxPositions);
            var cos = cosAll.Slice(positions[t] * half, half);
            var sin = sinAll.Slice(positions[t] * half, half);
            var cosV = MemoryMarshal.Cast<float, Vector<float>>(cos);
            var sinV = MemoryMarshal.Cast<float, Vector<float>>(sin);
            var signV = new Vector<float>(sign);
            for (int h = 0; h < nHeads; h++)
            {
                int o = t * C + h * headDim;
                var lo = src.Slice(o, half); var hi = src.Slice(o + half, half);
                var dlo = dst.Slice(o, half); var dhi = dst.Slice(o + half, half);
                int j = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var loV = MemoryMarshal.Cast<float, Vector<float>>(lo);
                    var hiV = MemoryMarshal.Cast<float, Vector<float>>(hi);
                    var dloV = MemoryMarshal.Cast<float, Vector<float>>(dlo);
                    var dhiV = MemoryMarshal.Cast<float, Vector<float>>(dhi);
                    for (int v = 0; v < loV.Length; v++)
                    {
                        var a = loV[v]; var b = hiV[v]; var c = cosV[v]; var s = sinV[v] * signV;
                        var ra = a * c - b * s; var rb = b * c + a * s;
                        if (accumulate) { dloV[v] += ra; dhiV[v] += rb; }
                        else { dloV[v] = ra; dhiV[v] = rb; }
                    }
                    j = loV.Length * W;
                }
                for (; j < half; j++)
                {
                    float a = lo[j], b = hi[j], c = cos[j], s = sin[j] * sign;
                    float ra = a * c - b * s, rb = b * c + a * s;
                    if (accumulate) { dlo[j] += ra; dhi[j] += rb; }
                    else { dlo[j] = ra; dhi[j] = rb; }
                }
            }
        }
    }
}
