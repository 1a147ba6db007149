// SavedModulesCheckpoint: the base checkpoint as PEFT's forward sees it with modules_to_save copies (tied stories260K):
// copies replace their tensors, a copy of either side unties the model and the other side keeps the original table.
using Loft.Formats;
using Loft.Peft.Lora;

namespace Loft.Peft.Tests;

public class SavedModulesCheckpointTests
{
    const string Folder = "fixtures/stories260K-hf";

    static LoraAdapter Adapter(ICheckpoint ckpt, params string[] save)
    {
        var a = LoraAdapter.Create(new LoraOptions { R = 2, TargetModules = ["q_proj"], ModulesToSave = save }, ckpt, seed: 1);
        foreach (var s in a.SavedModules)
            for (int i = 0; i < s.Data.Length; i++) s.Data[i] += 1f;   // a trained copy differs from the base
        return a;
    }

    [SharedTheory(Folder)]
    [InlineData(new[] { "lm_head" }, true, false)]
    [InlineData(new[] { "embed_tokens" }, false, true)]
    [InlineData(new[] { "lm_head", "embed_tokens" }, true, true)]
    public void CopiesReplaceTheirTensorsAndUntieTheModel(string[] save, bool headCopied, bool embedCopied)
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Folder));
        Assert.True(ckpt.Config.TieWordEmbeddings);
        var adapter = Adapter(ckpt, save);
        using var view = new SavedModulesCheckpoint(ckpt, adapter);
        Assert.False(view.Config.TieWordEmbeddings);
        Assert.True(view.Contains("lm_head.weight"));
        Assert.Equal([512, 64], view.GetInfo("lm_head.weight").Shape);
        var embed = ckpt.GetFloat32("model.embed_tokens.weight").ToArray();
        float[] Copy(string t) => adapter.SavedModules.Single(s => s.TensorName == t).Data;
        Assert.Equal(headCopied ? Copy("lm_head.weight") : embed, view.GetFloat32("lm_head.weight").ToArray());
        Assert.Equal(embedCopied ? Copy("model.embed_tokens.weight") : embed, view.GetFloat32("model.embed_tokens.weight").ToArray());
        Assert.Equal(ckpt.GetFloat32("model.norm.weight").ToArray(), view.GetFloat32("model.norm.weight").ToArray());
        Assert.Equal(ckpt.Tensors.Count + 1, view.Tensors.Count);
        // A snapshot: later changes to the adapter do not reach the view.
        adapter.SavedModules[0].Data[0] = 123f;
        Assert.NotEqual(123f, view.GetFloat32(adapter.SavedModules[0].TensorName)[0]);
        var e = Assert.Throws<KeyNotFoundException>(() => view.GetFloat32("score.weight"));
        Assert.EndsWith("no tensor 'score.weight'", e.Message);
    }

    [SharedFact(Folder)]
    public void WithoutCopiesTheViewIsTheBase()
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Folder));
        var adapter = Adapter(ckpt);
        Assert.Same(adapter, adapter.WithoutSavedModules());
        using var view = new SavedModulesCheckpoint(ckpt, adapter);
        Assert.True(view.Config.TieWordEmbeddings);
        Assert.Equal(ckpt.Tensors.Select(t => t.Name), view.Tensors.Select(t => t.Name));
        var withCopy = Adapter(ckpt, "lm_head");
        var stripped = withCopy.WithoutSavedModules();
        Assert.Empty(stripped.SavedModules);
        Assert.Same(withCopy.Modules[0], stripped.Modules[0]);
    }
}
