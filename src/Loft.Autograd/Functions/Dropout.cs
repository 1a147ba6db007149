// Inverted dropout masks (Srivastava et al. 2014; torch.nn.Dropout in training mode): each element is kept with
// probability 1 - p and then scaled by 1/(1 - p), so E[mask] = 1. Masks come from a counter-based generator (a hash of
// (seed, stream, element), as Philox-style counter RNGs do), so a mask is a pure function of its key: the same seed
// gives the same masks whatever the thread count or instruction set, a checkpointed layer recomputes the identical
// mask, and a resumed run only needs the stream counter.
using System.Diagnostics;
using System.Numerics;

namespace Loft.Autograd.Functions;

public static class Dropout
{
    /// <summary>
    /// Fills <paramref name="mask"/> with 0 (dropped, probability <paramref name="p"/>) or 1/(1 - p) (kept), as a
    /// deterministic function of (<paramref name="seed"/>, <paramref name="stream"/>, element index).
    /// </summary>
    /// <param name="p">drop probability in [0, 1); 0 gives a mask of ones.</param>
    /// <param name="seed">the run's seed.</param>
    /// <param name="stream">which mask: distinct streams give independent masks (e.g. pass × modules + module).</param>
    public static void FillMask(Span<float> mask, double p, ulong seed, ulong stream)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        if (p == 0)
        {
            mask.Fill(1f);
            return;
        }
        float scale = (float)(1.0 / (1.0 - p));
        // Keep when a 24-bit uniform integer u satisfies u >= threshold: P(keep) = 1 - threshold / 2^24 ≈ 1 - p.
        uint threshold = (uint)Math.Round(p * (1 << 24));
        ulong key = Mix64(Mix64(seed ^ 0x5851F42D4C957F2DUL) ^ stream);
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        int n = mask.Length, i = 0;
        // Per element u = Hash(i) >> 8; integer-only, so the vector and scalar paths give the same bits on any ISA.
        if (Vector.IsHardwareAccelerated && n >= Vector<uint>.Count)
        {
            int w = Vector<uint>.Count;
            Span<uint> lanes = stackalloc uint[w];
            for (int j = 0; j < w; j++) lanes[j] = (uint)j;
            var index = new Vector<uint>(lanes);
            var stride = new Vector<uint>((uint)w);
            var vk0 = new Vector<uint>(k0);
            var vk1 = new Vector<uint>(k1);
            var vthreshold = new Vector<uint>(threshold);
            var vscale = new Vector<float>(scale);
            for (; i <= n - w; i += w)
            {
                var h = Mix32(Mix32(index + vk0) ^ vk1);
                var keep = Vector.GreaterThanOrEqual(h >> 8, vthreshold);
                Vector.ConditionalSelect(Vector.AsVectorSingle(keep), vscale, Vector<float>.Zero).CopyTo(mask[i..]);
                index += stride;
            }
        }
        for (; i < n; i++)
            mask[i] = (Mix32(Mix32((uint)i + k0) ^ k1) >> 8) >= threshold ? scale : 0f;
    }

    /// <summary>The stream id of one mask in a model: training pass × module count + module index.</summary>
    public static ulong Stream(long pass, int module, int moduleCount)
    {
        Debug.Assert(pass >= 0 && module >= 0 && module < moduleCount);
        return unchecked((ulong)pass * (ulong)moduleCount + (ulong)module);
    }

    // SplitMix64's output function (Steele, Lea & Flood 2014): a bijective 64-bit mixer, for the per-mask key.
    static ulong Mix64(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // A bijective 32-bit mixer (xorshift-multiply, "lowbias32" constants from Wellons' hash-prospector), applied twice
    // per element with the two halves of the mask key; 32-bit lanes vectorise where 64-bit multiplies do not.
    static uint Mix32(uint x)
    {
        x ^= x >> 16; x *= 0x21F0AAADU;
        x ^= x >> 15; x *= 0x735A2D97U;
        return x ^ (x >> 15);
    }

    static Vector<uint> Mix32(Vector<uint> x)
    {
        x ^= x >> 16; x *= new Vector<uint>(0x21F0AAADU);
        x ^= x >> 15; x *= new Vector<uint>(0x735A2D97U);
        return x ^ (x >> 15);
    }
}
