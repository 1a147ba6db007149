// SwiGLU gating (Shazeer 2020) on the tape: y = silu(gate)·up, elementwise. Kernels: Loft.Tensors.Kernels.SwiGlu.
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class SwiGlu
{
    public static Var Apply(Tape tape, Var gate, Var up)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(gate);
        Check.Shape(up, "SwiGlu", "up", gate.Shape);
        bool req = tape.GradEnabled && (gate.RequiresGrad || up.RequiresGrad);
        var y = tape.NewOutput((int[])gate.Shape.Clone(), req);
        K.SwiGlu.Forward(y.Value, gate.Value, up.Value);
        if (req) tape.Record(new Node(gate, up, y));
        return y;
    }

    sealed class Node(Var gate, Var up, Var y) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            var dg = gate.RequiresGrad ? gate.Grad : tape.Scratch(gate.Length).Span;
            var du = up.RequiresGrad ? up.Grad : tape.Scratch(up.Length).Span;
            K.SwiGlu.Backward(dg, du, y.Grad, gate.Value, up.Value);
        }
    }
}
