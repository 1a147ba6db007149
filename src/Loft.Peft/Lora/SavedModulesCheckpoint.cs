// A base checkpoint as PEFT's forward sees it under an adapter's modules_to_save (ModulesToSaveWrapper): each saved
// tensor replaced by the adapter's trained copy. A tied model is untied when a copy of lm_head or embed_tokens is
// saved, because PEFT wraps the two modules separately: the side without a copy keeps the original table.
using Loft.Formats;
using Loft.Formats.HuggingFace;

namespace Loft.Peft.Lora;

public sealed class SavedModulesCheckpoint : ICheckpoint
{
    public const string EmbedTokens = "model.embed_tokens.weight";
    public const string LmHead = "lm_head.weight";

    readonly ICheckpoint _base;
    readonly bool _ownsBase;
    readonly Dictionary<string, float[]> _replaced = new(StringComparer.Ordinal);
    readonly List<TensorInfo> _tensors = [];
    readonly Dictionary<string, TensorInfo> _infos = new(StringComparer.Ordinal);
    readonly bool _untiedHeadFromBase;

    /// <summary>
    /// Overlays <paramref name="adapter"/>'s modules_to_save copies on <paramref name="baseCheckpoint"/> (validated against
    /// it first). The copies are snapshotted into pinned arrays, so inference code may hold raw pointers to them.
    /// </summary>
    public SavedModulesCheckpoint(ICheckpoint baseCheckpoint, LoraAdapter adapter, bool ownsBase = false)
    {
        ArgumentNullException.ThrowIfNull(baseCheckpoint);
        ArgumentNullException.ThrowIfNull(adapter);
        adapter.ValidateAgainst(baseCheckpoint);
        _base = baseCheckpoint;
        _ownsBase = ownsBase;
        Config = baseCheckpoint.Config;
        foreach (var s in adapter.SavedModules)
        {
            var copy = GC.AllocateUninitializedArray<float>(s.Data.Length, pinned: true);
            s.Data.CopyTo(copy, 0);
            _replaced[s.TensorName] = copy;
        }
        bool untie = Config.TieWordEmbeddings && (_replaced.ContainsKey(LmHead) || _replaced.ContainsKey(EmbedTokens));
        if (untie) Config = Config with { TieWordEmbeddings = false };
        foreach (var t in baseCheckpoint.Tensors)
        {
            if (untie && t.Name == LmHead) continue;   // a tied checkpoint's stored head is the embedding table
            Add(_replaced.TryGetValue(t.Name, out var r) ? Replaced(t.Name, t.Shape, r) : t);
        }
        if (untie)
        {
            var embed = baseCheckpoint.GetInfo(EmbedTokens);
            _untiedHeadFromBase = !_replaced.ContainsKey(LmHead);
            Add(_untiedHeadFromBase
                ? new TensorInfo(LmHead, embed.DType, (int[])embed.Shape.Clone(), embed.File, embed.FileOffset, embed.ByteLength)
                : Replaced(LmHead, embed.Shape, _replaced[LmHead]));
        }
    }

    static TensorInfo Replaced(string name, int[] shape, float[] data) =>
        new(name, TensorDType.F32, (int[])shape.Clone(), "(modules_to_save)", 0, data.LongLength * sizeof(float));

    void Add(TensorInfo t)
    {
        _tensors.Add(t);
        _infos[t.Name] = t;
    }

    public ModelConfig Config { get; }
    public string SourcePath => _base.SourcePath;
    public string FormatName => _base.FormatName + " + modules_to_save";
    public IReadOnlyList<TensorInfo> Tensors => _tensors;
    public bool Contains(string name) => _infos.ContainsKey(name);

    public TensorInfo GetInfo(string name) => _infos.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"{SourcePath}: no tensor '{name}'");

    public ReadOnlySpan<float> GetFloat32(string name)
    {
        if (_replaced.TryGetValue(name, out var data)) return data;
        if (name == LmHead && _untiedHeadFromBase) return _base.GetFloat32(EmbedTokens);
        if (!_infos.ContainsKey(name)) throw new KeyNotFoundException($"{SourcePath}: no tensor '{name}'");
        return _base.GetFloat32(name);
    }

    public void Dispose()
    {
        if (_ownsBase) _base.Dispose();
    }
}
