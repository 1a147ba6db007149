// peft merge_and_unload written to disk: the base checkpoint with W + scaling·B·A for every LoRA module (and
// modules_to_save copies in place of their tensors), saved as a Hugging Face folder (config.json,
// model.safetensors, the base folder's tokenizer files), as save_pretrained does after merging.
using Loft.Formats;
using Loft.Formats.SafeTensors;
using Loft.Peft.Lora;

namespace Loft.Peft.Inference;

public static class LoraMerge
{
    /// <summary>Tokenizer and generation files copied from a base model folder when present.</summary>
    public static readonly IReadOnlyList<string> CopiedFiles =
        ["tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];

    /// <summary>Loads the adapter folder (validated against the base) and merges it; see the other overload.</summary>
    public static IReadOnlyList<string> MergeToFolder(string baseCheckpointPath, string adapterFolder, string outDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(baseCheckpointPath);
        ArgumentException.ThrowIfNullOrEmpty(adapterFolder);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        using var checkpoint = CheckpointLoader.Open(baseCheckpointPath);
        var adapter = LoraAdapterFile.Load(adapterFolder, checkpoint);
        return Write(checkpoint, adapter, baseCheckpointPath, outDir);
    }

    /// <summary>
    /// Writes the merged model into <paramref name="outDir"/> (created if needed) and returns the file names written:
    /// config.json (torch_dtype float32; tie_word_embeddings turned off when a modules_to_save lm_head or embed_tokens
    /// copy is added to a tied model, the other side keeping the original table), model.safetensors (F32; untouched
    /// tensors copied as they are), then the tokenizer files of a base folder.
    /// </summary>
    public static IReadOnlyList<string> MergeToFolder(string baseCheckpointPath, LoraAdapter adapter, string outDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(baseCheckpointPath);
        ArgumentNullException.ThrowIfNull(adapter);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        using var checkpoint = CheckpointLoader.Open(baseCheckpointPath);
        adapter.ValidateAgainst(checkpoint);
        return Write(checkpoint, adapter, baseCheckpointPath, outDir);
    }

    static List<string> Write(ICheckpoint checkpoint, LoraAdapter adapter, string basePath, string outDir)
    {
        if (Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(basePath).TrimEnd(Path.DirectorySeparatorChar))
            throw new ArgumentException($"the output folder {outDir} is the base model's own folder; choose another", nameof(outDir));
        var config = checkpoint.Config with { TorchDtype = "float32" };
        // PEFT wraps lm_head and embed_tokens separately: a saved copy of either unties a tied model, and the side
        // without a copy keeps the original table (see SavedModulesCheckpoint).
        bool savedHead = adapter.SavedModules.Any(s => s.TensorName == "lm_head.weight");
        bool untie = config.TieWordEmbeddings && (savedHead || adapter.SavedModules.Any(s => s.TensorName == "model.embed_tokens.weight"));
        if (untie) config = config with { TieWordEmbeddings = false };

        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        config.Save(Path.Combine(outDir, "config.json"));
        files.Add("config.json");

        var writer = new SafeTensorsWriter(TensorDType.F32);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in checkpoint.Tensors)
        {
            var name = t.Name;
            if (checkpoint.Config.TieWordEmbeddings && name == "lm_head.weight") continue; // stored as the embeddings
            names.Add(name);
            var shape = (int[])t.Shape.Clone();
            if (Touches(adapter, name))
            {
                var data = checkpoint.GetFloat32(name).ToArray();
                adapter.TryMergeInto(name, data);
                writer.Add(name, shape, data);
            }
            else writer.Add(name, shape, () => checkpoint.GetFloat32(name));
        }
        foreach (var s in adapter.SavedModules)
            if (!names.Contains(s.TensorName))
            {
                if (!(untie && s.TensorName == "lm_head.weight"))
                    throw new InvalidDataException($"modules_to_save tensor '{s.TensorName}' has no counterpart in {checkpoint.SourcePath}");
                writer.Add(s.TensorName, (int[])s.Shape.Clone(), s.Data);
            }
        if (untie && !savedHead)
            writer.Add("lm_head.weight", checkpoint.Shape("model.embed_tokens.weight"), () => checkpoint.GetFloat32("model.embed_tokens.weight"));
        string weightsFile = Path.Combine(outDir, "model.safetensors");
        writer.Save(weightsFile);
        files.Add("model.safetensors");

        if (Directory.Exists(basePath))
            foreach (var f in CopiedFiles)
            {
                var src = Path.Combine(basePath, f);
                if (!File.Exists(src)) continue;
                File.Copy(src, Path.Combine(outDir, f), overwrite: true);
                files.Add(f);
            }
        return files;
    }

    static bool Touches(LoraAdapter adapter, string tensorName) =>
        (tensorName.EndsWith(".weight", StringComparison.Ordinal) && adapter.TryGetModule(tensorName[..^".weight".Length], out _))
        || adapter.SavedModules.Any(s => s.TensorName == tensorName);
}
