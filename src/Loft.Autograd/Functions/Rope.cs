// Rotary position embedding (Su et al. 2021; HF rotate-half layout) on the tape: y = R(pos)·x per head.
// R is orthogonal, so dx += R(-pos)·dy. Kernels: Loft.Tensors.Kernels.Rope.
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class Rope
{
    /// <param name="x">(rows, nh·hs)</param>
    /// <param name="positions">(rows) position of each row, each below table.MaxPositions</param>
    public static Var Apply(Tape tape, Var x, ReadOnlyMemory<int> positions, int nHeads, int headDim, K.RopeTable table)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(table);
        if (nHeads < 1) throw new ArgumentOutOfRangeException(nameof(nHeads), nHeads, "Rope: heads must be >= 1");
        if (headDim != table.HeadDim) throw new ArgumentException($"Rope: head size {headDim} differs from the table's {table.HeadDim}", nameof(headDim));
        Check.Columns(x, nHeads * headDim, "Rope", "input");
        int rows = x.Rows;
        if (positions.Length != rows) throw new ArgumentException($"Rope: {positions.Length} positions for {rows} rows", nameof(positions));
        foreach (var p in positions.Span)
            if ((uint)p >= (uint)table.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(positions), p, $"Rope: position outside the table's [0, {table.MaxPositions})");
        bool req = tape.GradEnabled && x.RequiresGrad;
        var y = tape.NewOutput((int[])x.Shape.Clone(), req);
        K.Rope.Forward(y.Value, x.Value, positions.Span, nHeads, headDim, table);
        if (req) tape.Record(new Node(x, y, positions, nHeads, headDim, table));
        return y;
    }

    sealed class Node(Var x, Var y, ReadOnlyMemory<int> positions, int nHeads, int headDim, K.RopeTable table) : Autograd.Node
    {
        protected internal override void Backward(Tape tape) =>
            K.Rope.Backward(x.Grad, y.Grad, positions.Span, nHeads, headDim, table);
    }
}
