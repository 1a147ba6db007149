// Applies a PEFT LoRA adapter to an inference LlamaModel by wrapping each targeted projection in a LoraLinear
// (peft's inject_adapter / disable_adapter / unload without merging).
using Loft.Models.Llama;
using Loft.Peft.Lora;

namespace Loft.Peft.Inference;

public sealed class LoraModelAdapter
{
    readonly LlamaModel _model;
    readonly List<(LoraLinear Wrapper, Action<ILinear> Set)> _wrapped;
    bool _removed;

    LoraModelAdapter(LlamaModel model, LoraAdapter adapter, List<(LoraLinear, Action<ILinear>)> wrapped)
    {
        _model = model;
        Adapter = adapter;
        _wrapped = wrapped;
    }

    public LoraAdapter Adapter { get; }

    /// <summary>The wrappers now in the model, in the adapter's module order.</summary>
    public IReadOnlyList<LoraLinear> Layers => _wrapped.Select(w => w.Wrapper).ToList();

    public bool Enabled { get; private set; } = true;

    /// <summary>
    /// Wraps every projection the adapter targets. Every module is checked before the model is touched: a module
    /// the model lacks or one with other shapes throws InvalidDataException naming it; modules_to_save copies are
    /// not applied here (load the model over a <see cref="SavedModulesCheckpoint"/>, or merge with <see cref="LoraMerge"/>).
    /// </summary>
    public static LoraModelAdapter Apply(LlamaModel model, LoraAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(adapter);
        if (adapter.SavedModules.Count > 0)
            throw new NotSupportedException(
                $"the adapter has modules_to_save tensors ({string.Join(", ", adapter.SavedModules.Select(s => s.TensorName))}), which replace model tensors: build the model over a SavedModulesCheckpoint and apply adapter.WithoutSavedModules() (as `loft generate --adapter` does), or merge it with `loft merge`");
        var slots = Slots(model);
        var plan = new List<(LoraLinear, Action<ILinear>)>();
        foreach (var m in adapter.Modules)
        {
            if (!slots.TryGetValue(m.Module, out var slot))
                throw new InvalidDataException($"LoRA module '{m.Module}' is not a projection of the model {model.Source} (an adapter for a different base model?)");
            plan.Add((new LoraLinear(slot.Get(), m), slot.Set));
        }
        foreach (var (wrapper, set) in plan) set(wrapper);
        return new LoraModelAdapter(model, adapter, plan);
    }

    /// <summary>peft disable_adapter: the model computes the base outputs exactly.</summary>
    public void Disable() => SetEnabled(false);

    public void Enable() => SetEnabled(true);

    /// <summary>Puts the original projections back (peft unload without merging); the adapter can no longer be toggled.</summary>
    public void Remove()
    {
        ThrowIfRemoved();
        foreach (var (wrapper, set) in _wrapped) set(wrapper.Base);
        _removed = true;
    }

    void SetEnabled(bool on)
    {
        ThrowIfRemoved();
        foreach (var (wrapper, _) in _wrapped) wrapper.Enabled = on;
        Enabled = on;
    }

    void ThrowIfRemoved()
    {
        if (_removed) throw new InvalidOperationException($"the adapter was removed from {_model.Source}");
    }

    // Every settable projection of the model under its HF module name.
    static Dictionary<string, (Func<ILinear> Get, Action<ILinear> Set)> Slots(LlamaModel model)
    {
        var d = new Dictionary<string, (Func<ILinear>, Action<ILinear>)>(StringComparer.Ordinal);
        foreach (var layer in model.Layers)
        {
            var at = layer.Attention;
            var mlp = layer.Mlp;
            string p = $"model.layers.{layer.Index}.";
            d[p + "self_attn.q_proj"] = (() => at.QProj, v => at.QProj = v);
            d[p + "self_attn.k_proj"] = (() => at.KProj, v => at.KProj = v);
            d[p + "self_attn.v_proj"] = (() => at.VProj, v => at.VProj = v);
            d[p + "self_attn.o_proj"] = (() => at.OProj, v => at.OProj = v);
            d[p + "mlp.gate_proj"] = (() => mlp.GateProj, v => mlp.GateProj = v);
            d[p + "mlp.up_proj"] = (() => mlp.UpProj, v => mlp.UpProj = v);
            d[p + "mlp.down_proj"] = (() => mlp.DownProj, v => mlp.DownProj = v);
        }
        d["lm_head"] = (() => model.LmHead, v => model.LmHead = v);
        return d;
    }
}
