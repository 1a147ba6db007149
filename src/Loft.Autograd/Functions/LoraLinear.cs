// PEFT's LoRA Linear (Hu et al. 2021) on the tape: y = x·Wᵀ + b + scaling·(dropout(x)·Aᵀ)·Bᵀ with a frozen or trainable
// base W (out, in), A (r, in), B (out, r), as peft lora.Linear.forward. Dropout is an optional (rows, in) mask m of
// 0 or 1/(1-p) (see Dropout.FillMask): x̃ = x ⊙ m. Saved: s·u = scaling·x̃·Aᵀ (rows, r), and x̃ when masked.
// Backward: dB += dyᵀ·(s·u); du = scaling·dy·B; dA += duᵀ·x̃; dx += dy·W + (du·A) ⊙ m.
using System.Numerics.Tensors;
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class LoraLinear
{
    /// <param name="x">(..., in)</param>
    /// <param name="weight">base (out, in)</param>
    /// <param name="bias">(out) or null</param>
    /// <param name="loraA">(r, in)</param>
    /// <param name="loraB">(out, r)</param>
    /// <param name="scaling">alpha / r (alpha / √r with rsLoRA)</param>
    public static Var Apply(Tape tape, Var x, Var weight, Var? bias, Var loraA, Var loraB, float scaling) =>
        Apply(tape, x, weight, bias, loraA, loraB, scaling, ReadOnlyMemory<float>.Empty);

    /// <summary>LoRA with lora_dropout in training mode: the adapter branch sees x ⊙ <paramref name="dropoutMask"/>.</summary>
    /// <param name="dropoutMask">(rows, in) multipliers, 0 or 1/(1-p) (<see cref="Dropout.FillMask"/>), or empty for no
    /// dropout (evaluation, or lora_dropout 0). The mask must stay unchanged until the backward pass has run.</param>
    public static Var Apply(Tape tape, Var x, Var weight, Var? bias, Var loraA, Var loraB, float scaling, ReadOnlyMemory<float> dropoutMask)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(loraA);
        if (weight.Shape.Length != 2) throw new ArgumentException($"LoraLinear: weight {weight} must be 2-D (out, in)", nameof(weight));
        if (loraA.Shape.Length != 2) throw new ArgumentException($"LoraLinear: lora_A {loraA} must be 2-D (r, in)", nameof(loraA));
        if (!float.IsFinite(scaling)) throw new ArgumentOutOfRangeException(nameof(scaling), scaling, "LoRA scaling must be finite");
        int n = weight.Shape[0], k = weight.Shape[1], r = loraA.Shape[0];
        Check.Columns(x, k, "LoraLinear", "input");
        Check.Shape(loraA, "LoraLinear", "lora_A", r, k);
        Check.Shape(loraB, "LoraLinear", "lora_B", n, r);
        if (bias != null) Check.Length(bias, n, "LoraLinear", "bias");
        int m = x.Rows;
        bool masked = !dropoutMask.IsEmpty;
        if (masked && dropoutMask.Length != m * k)
            throw new ArgumentException($"LoraLinear: the dropout mask has {dropoutMask.Length} elements, the input {x} has {m * k}", nameof(dropoutMask));
        bool req = tape.GradEnabled && (x.RequiresGrad || weight.RequiresGrad || loraA.RequiresGrad || loraB.RequiresGrad || (bias?.RequiresGrad ?? false));
        var y = tape.NewOutput(Check.RowShape(x, n), req);
        K.MatMul.Forward(y.Value, x.Value, weight.Value, bias == null ? default : bias.Value, m, k, n);    // (m, n)
        // The adapter's input: x, or x ⊙ mask (m, k).
        Memory<float> xd = masked ? tape.ScratchUninitialized(m * k) : default;
        if (masked) TensorPrimitives.Multiply(x.Value, dropoutMask.Span, xd.Span);
        ReadOnlySpan<float> xa = masked ? xd.Span : x.Value;
        var su = tape.ScratchUninitialized(m * r);                                                         // (m, r)
        K.MatMul.Forward(su.Span, xa, loraA.Value, default, m, k, r);
        TensorPrimitives.Multiply(su.Span, scaling, su.Span);
        // y += su·Bᵀ through the accumulating kernel (dx += dy·w with w = Bᵀ (r, n)): a (r, n) transposed copy of B
        // instead of an (m, n) temporary.
        var bt = tape.ScratchUninitialized(r * n).Span;                                                    // (r, n)
        var bv = loraB.Value;
        for (int o = 0; o < n; o++)
            for (int j = 0; j < r; j++)
                bt[j * n + o] = bv[o * r + j];
        K.MatMul.BackwardInput(y.Value, su.Span, bt, m, n, r);
        if (req) tape.Record(new Node(x, weight, bias, loraA, loraB, y, su, scaling, m, k, n, r, xd, dropoutMask));
        return y;
    }

    sealed class Node(Var x, Var w, Var? b, Var a, Var bb, Var y, Memory<float> su, float scaling, int m, int k, int n, int r,
        Memory<float> xd, ReadOnlyMemory<float> mask) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            var dy = y.Grad;
            bool masked = !mask.IsEmpty;
            if (bb.RequiresGrad) K.MatMul.BackwardWeight(bb.Grad, dy, su.Span, m, r, n);
            if (a.RequiresGrad || x.RequiresGrad)
            {
                var du = tape.Scratch(m * r).Span;                 // (m, r)
                K.MatMul.BackwardInput(du, dy, bb.Value, m, r, n);
                TensorPrimitives.Multiply(du, scaling, du);
                if (a.RequiresGrad) K.MatMul.BackwardWeight(a.Grad, du, masked ? xd.Span : x.Value, m, k, r);
                if (x.RequiresGrad)
                {
                    if (!masked) K.MatMul.BackwardInput(x.Grad, du, a.Value, m, k, r);
                    else
                    {
                        var dxd = tape.Scratch(m * k).Span;        // (m, k) d loss / d x̃, then through the mask
                        K.MatMul.BackwardInput(dxd, du, a.Value, m, k, r);
                        TensorPrimitives.MultiplyAdd(dxd, mask.Span, x.Grad, x.Grad);
                    }
                }
            }
            if (x.RequiresGrad) K.MatMul.BackwardInput(x.Grad, dy, w.Value, m, k, n);
            if (w.RequiresGrad) K.MatMul.BackwardWeight(w.Grad, dy, x.Value, m, k, n);
            if (b is { RequiresGrad: true }) Linear.BiasBackward(b.Grad, dy, m, n);
        }
    }
}
