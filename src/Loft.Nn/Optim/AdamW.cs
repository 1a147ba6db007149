// AdamW with torch.optim.AdamW's semantics (Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
// 2019): per parameter, step t = 1, 2, ...: p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²;
// p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)   (amsgrad: v in the denominator is max over steps).
using System.Numerics;
using System.Runtime.InteropServices;

using Loft.Tensors.Kernels;
using Loft.Tensors.Threading;

namespace Loft.Nn.Optim;

/// <summary>Hyper-parameters of <see cref="AdamW"/>; defaults are torch.optim.AdamW's (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01, amsgrad false).</summary>
public sealed record AdamWOptions
{
    /// <summary>torch.optim.AdamW lr.</summary>
    public double Lr { get; init; } = 1e-3;
    /// <summary>torch.optim.AdamW betas[0].</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>torch.optim.AdamW betas[1].</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>torch.optim.AdamW eps.</summary>
    public double Eps { get; init; } = 1e-8;
    /// <summary>torch.optim.AdamW weight_decay (decoupled: p *= 1 - lr*wd before the Adam update).</summary>
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>torch.optim.AdamW amsgrad.</summary>
    public bool Amsgrad { get; init; }

    public void Validate()
    {
        if (!(Lr >= 0) || double.IsInfinity(Lr)) throw new ArgumentException($"AdamWOptions.Lr: invalid learning rate {Lr} (must be finite and >= 0)");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentException($"AdamWOptions.Beta1: invalid beta {Beta1} (must be in [0, 1))");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentException($"AdamWOptions.Beta2: invalid beta {Beta2} (must be in [0, 1))");
        if (!(Eps >= 0) || double.IsInfinity(Eps)) throw new ArgumentException($"AdamWOptions.Eps: invalid epsilon {Eps} (must be finite and >= 0)");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new ArgumentException($"AdamWOptions.WeightDecay: invalid weight decay {WeightDecay} (must be finite and >= 0)");
    }
}

public sealed class AdamW : Optimizer
{
    sealed class State(int n, bool amsgrad)
    {
        public long Step;
        public readonly float[] M = new float[n];   // exp_avg
        public readonly float[] V = new float[n];   // exp_avg_sq
        public readonly float[]? VMax = amsgrad ? new float[n] : null; // max_exp_avg_sq
    }

    readonly State?[] _state;

    public AdamW(IEnumerable<Parameter> parameters, AdamWOptions? options = null)
        : base(parameters, Checked(options ?? new AdamWOptions()).Lr)
    {
        Options = options ?? new AdamWOptions();
        _state = new State?[Parameters.Count];
    }

    public AdamWOptions Options { get; }

    static AdamWOptions Checked(AdamWOptions o) { o.Validate(); return o; }

    /// <summary>The number of updates applied to parameter <paramref name="index"/> (torch's state["step"]).</summary>
    public long ParameterStep(int index) => _state[index]?.Step ?? 0;

    /// <summary>First and second moment buffers of a parameter (empty before its first step).</summary>
    public (ReadOnlyMemory<float> ExpAvg, ReadOnlyMemory<float> ExpAvgSq) Moments(int index) =>
        _state[index] is { } s ? (s.M, s.V) : (ReadOnlyMemory<float>.Empty, ReadOnlyMemory<float>.Empty);

    /// <summary>
    /// Restores a parameter's state from a checkpoint (torch's optimizer.load_state_dict): its step count and moments.
    /// Arguments that do not fit the parameter throw ArgumentException naming it.
    /// </summary>
    public void LoadState(int index, long step, ReadOnlySpan<float> expAvg, ReadOnlySpan<float> expAvgSq, ReadOnlySpan<float> maxExpAvgSq = default)
    {
        if ((uint)index >= (uint)Parameters.Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"parameter index must be in [0, {Parameters.Count})");
        var p = Parameters[index];
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, $"parameter '{p.Name}': the step count must be >= 0");
        if (expAvg.Length != p.Length || expAvgSq.Length != p.Length)
            throw new ArgumentException($"parameter '{p.Name}' has {p.Length} elements but exp_avg has {expAvg.Length} and exp_avg_sq {expAvgSq.Length}");
        if (Options.Amsgrad && maxExpAvgSq.Length != p.Length)
            throw new ArgumentException($"parameter '{p.Name}' has {p.Length} elements but max_exp_avg_sq has {maxExpAvgSq.Length} (amsgrad needs it)");
        if (step == 0)
        {
            _state[index] = null;
            return;
        }
        var s = new State(p.Length, Options.Amsgrad) { Step = step };
        expAvg.CopyTo(s.M);
        expAvgSq.CopyTo(s.V);
        if (s.VMax != null) maxExpAvgSq.CopyTo(s.VMax);
        _state[index] = s;
    }

    protected override void StepParameter(int index, Parameter p)
    {
        var s = _state[index] ??= new State(p.Length, Options.Amsgrad);
        s.Step++;
        double lr = Lr, b1 = Options.Beta1, b2 = Options.Beta2;
        double bc1 = 1 - Math.Pow(b1, s.Step);
        double bc2Sqrt = Math.Sqrt(1 - Math.Pow(b2, s.Step));
        // Scalars as torch passes them to its float32 kernels.
        var k = new Coefficients
        {
            Decay = (float)(1 - lr * Options.WeightDecay),
            B1 = (float)b1, OneMinusB1 = (float)(1 - b1),
            B2 = (float)b2, OneMinusB2 = (float)(1 - b2),
            StepSize = (float)(lr / bc1),
            Bc2Sqrt = (float)bc2Sqrt,
            Eps = (float)Options.Eps,
            ApplyDecay = Options.WeightDecay != 0,
        };
        var value = p.Value.Span;
        if (Elementwise.Parallel(value.Length))
        {
            // Elementwise, so fixed blocks on any number of threads give the same bits.
            var op = new UpdateOp { P = value, G = p.Grad.Span, M = s.M, V = s.V, VMax = s.VMax, Ams = s.VMax != null, K = k };
            WorkerPool.Shared.For(Elementwise.Blocks(value.Length), ref op);
        }
        else Update(value, p.Grad.Span, s.M, s.V, s.VMax, s.VMax != null, k);
    }

    ref struct UpdateOp : IParallelOp
    {
        public Span<float> P, M, V, VMax;
        public ReadOnlySpan<float> G;
        public bool Ams;
        public Coefficients K;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Elementwise.Range(start, end, P.Length);
            Update(P.Slice(a, n), G.Slice(a, n), M.Slice(a, n), V.Slice(a, n), Ams ? VMax.Slice(a, n) : default, Ams, K);
        }
    }

    internal struct Coefficients
    {
        public float Decay, B1, OneMinusB1, B2, OneMinusB2, StepSize, Bc2Sqrt, Eps;
        public bool ApplyDecay;
    }

    // One fused pass; vector and scalar paths do the same IEEE operations in the same order (no FMA), so
    // results do not depend on the vector width or on where the tail starts.
    internal static void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> vmax, bool ams, in Coefficients k)
    {
        int n = p.Length;
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var decay = new Vector<float>(k.Decay);
            var b1 = new Vector<float>(k.B1); var c1 = new Vector<float>(k.OneMinusB1);
            var b2 = new Vector<float>(k.B2); var c2 = new Vector<float>(k.OneMinusB2);
            var stepSize = new Vector<float>(k.StepSize);
            var bc2 = new Vector<float>(k.Bc2Sqrt);
            var eps = new Vector<float>(k.Eps);
            ref float pr = ref MemoryMarshal.GetReference(p);
            ref float gr = ref MemoryMarshal.GetReference(g);
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float vr = ref MemoryMarshal.GetReference(v);
            ref float xr = ref MemoryMarshal.GetReference(vmax);
            int w = Vector<float>.Count;
            for (; i <= n - w; i += w)
            {
                var pv = Vector.LoadUnsafe(ref pr, (nuint)i);
                var gv = Vector.LoadUnsafe(ref gr, (nuint)i);
                var mv = Vector.LoadUnsafe(ref mr, (nuint)i);
                var vv = Vector.LoadUnsafe(ref vr, (nuint)i);
                if (k.ApplyDecay) pv *= decay;
                mv = b1 * mv + c1 * gv;
                vv = b2 * vv + c2 * (gv * gv);
                var vd = vv;
                if (ams)
                {
                    vd = Vector.Max(Vector.LoadUnsafe(ref xr, (nuint)i), vv);
                    vd.StoreUnsafe(ref xr, (nuint)i);
                }
                var denom = Vector.SquareRoot(vd) / bc2 + eps;
                pv -= stepSize * (mv / denom);
                pv.StoreUnsafe(ref pr, (nuint)i);
                mv.StoreUnsafe(ref mr, (nuint)i);
                vv.StoreUnsafe(ref vr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float pv = p[i], gv = g[i];
            if (k.ApplyDecay) pv *= k.Decay;
            float mv = k.B1 * m[i] + k.OneMinusB1 * gv;
            float vv = k.B2 * v[i] + k.OneMinusB2 * (gv * gv);
            float vd = vv;
            if (ams) { vd = MathF.Max(vmax[i], vv); vmax[i] = vd; }
            float denom = MathF.Sqrt(vd) / k.Bc2Sqrt + k.Eps;
            pv -= k.StepSize * (mv / denom);
            p[i] = pv; m[i] = mv; v[i] = vv;
        }
    }
}
