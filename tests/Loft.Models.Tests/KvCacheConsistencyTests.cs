// The cached inference paths agree with the batched one on real models: step-by-step decode == ForwardAll for GQA
// (stories260K) and MHA (aidreams260K), several slots in one DecodeStep == each alone, chunked Prefill == one Prefill.
using Loft.Models.Inference;
using Loft.Models.Llama;

namespace Loft.Models.Tests;

public sealed class KvCacheConsistencyTests
{
    // Cached and batched paths run different kernel paths (GEMV for one row or a few, packed GEMM for many, per-row or
    // blocked attention), so their float32 sums differ in rounding: values agree within 1e-5 of the vector's scale (its
    // largest magnitude, at least 1) plus 1e-6 of the value's size. aidreams260K logits reach ~20, stories260K keys ~30.
    const double Tol = 1e-5, Rtol = 1e-6;

    static void AssertClose(ReadOnlySpan<float> got, ReadOnlySpan<float> want, string what)
    {
        Assert.Equal(want.Length, got.Length);
        double scale = 1;
        foreach (var v in want) scale = Math.Max(scale, Math.Abs(v));
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= Tol * scale + Rtol * Math.Abs(want[i]), $"{what}[{i}]: {got[i]} vs {want[i]} (scale {scale:G3})");
    }

    public static TheoryData<string> Models => new() { Stories260KFixture.BinPath, Stories260KFixture.AidreamsPath };

    static int[] Sequence(int vocab, int length, int seed)
    {
        var rng = new Random(seed);
        var ids = new int[length];
        ids[0] = 1;
        for (int i = 1; i < length; i++) ids[i] = rng.Next(3, vocab);
        return ids;
    }

    [SharedTheory(Stories260KFixture.BinPath, Stories260KFixture.AidreamsPath)]
    [MemberData(nameof(Models))]
    public void Step_by_step_decode_equals_the_batched_forward(string checkpoint)
    {
        using var model = LlamaModel.Load(SharedData.Require(checkpoint));
        int V = model.VocabSize, T = 40;
        var ids = Sequence(V, T, 7);
        var batched = new float[T * V];
        model.ForwardAll(ids, batched);

        using var cache = model.CreateCache(1, T);
        var step = new float[V];
        model.Prefill(cache, 0, ids.AsSpan(0, 1), step);
        AssertClose(step, batched.AsSpan(0, V), "position 0");
        for (int t = 1; t < T; t++)
        {
            model.DecodeStep(cache, [0], ids.AsSpan(t, 1), step);
            AssertClose(step, batched.AsSpan(t * V, V), $"position {t}");
        }
        Assert.Equal(T, cache.Length(0));
    }

    [SharedTheory(Stories260KFixture.BinPath, Stories260KFixture.AidreamsPath)]
    [MemberData(nameof(Models))]
    public void DecodeStep_over_several_slots_equals_each_slot_alone(string checkpoint)
    {
        using var model = LlamaModel.Load(SharedData.Require(checkpoint));
        int V = model.VocabSize;
        // Three sequences of different prompt lengths, decoded together for 6 steps; the batch lists slots out of order.
        int[][] prompts = [Sequence(V, 5, 1), Sequence(V, 11, 2), Sequence(V, 2, 3)];
        int[][] next = [Sequence(V, 6, 4), Sequence(V, 6, 5), Sequence(V, 6, 6)];
        int[] order = [2, 0, 1];

        using var together = model.CreateCache(3, 32);
        var scratch = new float[V];
        for (int s = 0; s < 3; s++) model.Prefill(together, s, prompts[s], scratch);
        var batchLogits = new float[6][];
        for (int step = 0; step < 6; step++)
        {
            batchLogits[step] = new float[3 * V];
            model.DecodeStep(together, order, order.Select(s => next[s][step]).ToArray(), batchLogits[step]);
        }

        for (int s = 0; s < 3; s++)
        {
            using var alone = model.CreateCache(1, 32);
            model.Prefill(alone, 0, prompts[s], scratch);
            int row = Array.IndexOf(order, s);
            for (int step = 0; step < 6; step++)
            {
                model.DecodeStep(alone, [0], [next[s][step]], scratch);
                AssertClose(scratch, batchLogits[step].AsSpan(row * V, V), $"slot {s} step {step}");
            }
            Assert.Equal(prompts[s].Length + 6, together.Length(s));
        }
    }

    [SharedTheory(Stories260KFixture.BinPath, Stories260KFixture.AidreamsPath)]
    [MemberData(nameof(Models))]
    public void Prefill_in_two_chunks_equals_one_chunk(string checkpoint)
    {
        using var model = LlamaModel.Load(SharedData.Require(checkpoint));
        int V = model.VocabSize;
        var ids = Sequence(V, 30, 9);
        using var cache = model.CreateCache(2, 40);
        var one = new float[V];
        var two = new float[V];
        model.Prefill(cache, 0, ids, one);
        model.Prefill(cache, 1, ids.AsSpan(0, 17), two);
        model.Prefill(cache, 1, ids.AsSpan(17), two);
        AssertClose(two, one, "two chunks");
        // The caches themselves agree, so continuing either gives the same logits.
        model.DecodeStep(cache, [0, 1], [5, 5], new float[2 * V]);
        for (int l = 0; l < model.Config.NumHiddenLayers; l++)
        {
            AssertClose(cache.Keys(1, l)[..(31 * cache.KvDim)], cache.Keys(0, l)[..(31 * cache.KvDim)], $"layer {l} keys");
            AssertClose(cache.Values(1, l)[..(31 * cache.KvDim)], cache.Values(0, l)[..(31 * cache.KvDim)], $"layer {l} values");
        }
    }

    [SharedFact(Stories260KFixture.BinPath)]
    public void Truncate_and_CopySlot_restore_earlier_states()
    {
        using var model = LlamaModel.Load(SharedData.Require(Stories260KFixture.BinPath));
        int V = model.VocabSize;
        var ids = Sequence(V, 12, 11);
        using var cache = model.CreateCache(2, 16);
        var reference = new float[V];
        model.Prefill(cache, 0, ids.AsSpan(0, 8), reference);     // logits after 8 tokens

        var got = new float[V];
        model.Prefill(cache, 0, ids.AsSpan(8, 4), got);
        cache.Truncate(0, 7);                                     // back to 7 tokens: re-feeding token 8 must match
        model.DecodeStep(cache, [0], ids.AsSpan(7, 1), got);
        AssertClose(got, reference, "after truncate");

        cache.CopySlot(0, 1);                                     // beam fork: both slots continue identically
        Assert.Equal(8, cache.Length(1));
        var both = new float[2 * V];
        model.DecodeStep(cache, [0, 1], [ids[8], ids[8]], both);
        AssertClose(both.AsSpan(V, V), both.AsSpan(0, V), "copied slot");

        cache.Truncate(1, 0);
        Assert.Equal(0, cache.Length(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Truncate(0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Length(2));
    }

    [Fact]
    public void KvCache_validates_its_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(0, 4, 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(1, 0, 1, 8));
        using var cache = new KvCache(2, 4, 3, 8);
        Assert.Equal(2L * 2 * 3 * 4 * 8 * sizeof(float), cache.ByteCount);
        Assert.Equal(4 * 8, cache.Keys(1, 2).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Keys(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.CopySlot(0, 2));
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.Length(0));
    }
}
