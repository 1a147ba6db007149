// nn.Embedding on the tape: y[t] = table[ids[t]]; backward scatter-adds dy rows into the table's gradient
// (repeated ids accumulate). Kernels: Loft.Tensors.Kernels.Embedding.
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class Embedding
{
    /// <param name="table">(V, C)</param>
    /// <param name="ids">(N), each in [0, V)</param>
    /// <returns>(N, C)</returns>
    public static Var Apply(Tape tape, Var table, ReadOnlyMemory<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(table);
        if (table.Shape.Length != 2) throw new ArgumentException($"Embedding: table {table} must be 2-D (V, C)", nameof(table));
        int V = table.Shape[0], C = table.Shape[1];
        var span = ids.Span;
        for (int t = 0; t < span.Length; t++)
            if ((uint)span[t] >= (uint)V)
                throw new ArgumentOutOfRangeException(nameof(ids), span[t], $"Embedding: ids[{t}] = {span[t]} is outside the vocabulary [0, {V})");
        bool req = tape.GradEnabled && table.RequiresGrad;
        var y = tape.NewOutput([ids.Length, C], req);
        K.Embedding.Forward(y.Value, table.Value, span, C);
        if (req) tape.Record(new Node(table, y, ids, C));
        return y;
    }

    sealed class Node(Var table, Var y, ReadOnlyMemory<int> ids, int C) : Autograd.Node
    {
        protected internal override void Backward(Tape tape) => K.Embedding.Backward(table.Grad, y.Grad, ids.Span, C);
    }
}
