// Procedural tasks with exact answers for the quickstart (arithmetic, copy, reverse, sort, capitals, reading colours), each
// in two surface forms: a plain pretraining line ("12 plus 7 is 19") and an instruction ("Q: What is 12 plus 7?\nA: 19").
namespace Loft.Training.Quickstart;

/// <summary>One task: its kind, the pretraining line, the instruction prompt (ending in "A: ") and the exact answer.</summary>
public sealed record QuickTask(string Kind, string PretrainText, string Prompt, string Answer);

/// <summary>Which entries of the capitals table a generator draws from: every third country is held out for evaluation,
/// so fine-tuning never asks about it (pretraining states every capital).</summary>
public enum FactSplit { All, Train, HeldOut }

/// <summary>A seeded, deterministic stream of procedural tasks.</summary>
public sealed class TaskGenerator
{
    public static IReadOnlyList<string> Kinds { get; } = ["add", "sub", "copy", "reverse", "sort", "capital", "color"];

    /// <summary>How often pretraining draws each kind (same order as <see cref="Kinds"/>): the kinds a small model learns
    /// slowest (reversing, subtracting, the facts it must memorise) get more lines than copying.</summary>
    public static IReadOnlyList<double> PretrainWeights { get; } = [1.0, 1.0, 1.2, 1.5, 1.2, 0.6, 0.5];

    /// <summary>Built-in country → capital table (lower case, one-word names).</summary>
    public static IReadOnlyList<(string Country, string Capital)> Capitals { get; } =
    [
        ("france", "paris"), ("spain", "madrid"), ("italy", "rome"), ("japan", "tokyo"), ("egypt", "cairo"), ("peru", "lima"),
        ("kenya", "nairobi"), ("norway", "oslo"), ("cuba", "havana"), ("chile", "santiago"), ("greece", "athens"), ("poland", "warsaw"),
        ("russia", "moscow"), ("china", "beijing"), ("germany", "berlin"), ("austria", "vienna"), ("portugal", "lisbon"), ("ireland", "dublin"),
        ("sweden", "stockholm"), ("finland", "helsinki"), ("hungary", "budapest"), ("turkey", "ankara"), ("canada", "ottawa"), ("ghana", "accra"),
        ("nepal", "kathmandu"), ("qatar", "doha"), ("latvia", "riga"), ("belgium", "brussels"), ("iraq", "baghdad"), ("thailand", "bangkok"),
    ];

    /// <summary>The colour words of the "color" reading task.</summary>
    public static IReadOnlyList<string> ColorNames { get; } =
        ["red", "blue", "green", "pink", "gold", "gray", "white", "black", "brown", "teal", "orange", "purple"];

    readonly Random _rng;
    readonly int _maxNumber;
    readonly FactSplit _split;
    readonly double[] _cumulativeWeights;

    /// <param name="seed">Seed of the stream (same seed, same tasks).</param>
    /// <param name="maxNumber">Largest operand of add/sub (inclusive).</param>
    /// <param name="factSplit">Which fact-table entries to draw from.</param>
    public TaskGenerator(int seed, int maxNumber = 19, FactSplit factSplit = FactSplit.All)
    {
        if (maxNumber < 1) throw new ArgumentOutOfRangeException(nameof(maxNumber), maxNumber, "must be >= 1");
        _rng = new Random(seed);
        _maxNumber = maxNumber;
        _split = factSplit;
        _cumulativeWeights = new double[Kinds.Count];
        double sum = 0;
        for (int i = 0; i < Kinds.Count; i++) _cumulativeWeights[i] = sum += PretrainWeights[i];
    }

    /// <summary>True when fact-table entry <paramref name="index"/> belongs to the held-out split.</summary>
    public static bool IsHeldOutFact(int index) => index % 3 == 0;

    /// <summary>How many distinct questions of <paramref name="kind"/> a split can ask; null for the unbounded generated kinds.</summary>
    public static int? DistinctFacts(string kind, FactSplit split)
    {
        if (kind != "capital") return null;
        int count = Capitals.Count;
        return split == FactSplit.All ? count : Enumerable.Range(0, count).Count(i => (split == FactSplit.HeldOut) == IsHeldOutFact(i));
    }

    int Fact(int count)
    {
        while (true)
        {
            int i = _rng.Next(count);
            if (_split == FactSplit.All || (_split == FactSplit.HeldOut) == IsHeldOutFact(i)) return i;
        }
    }

    /// <summary>The next task, of a uniformly drawn kind.</summary>
    public QuickTask Next() => Next(Kinds[_rng.Next(Kinds.Count)]);

    /// <summary>The next pretraining line: a kind drawn by <see cref="PretrainWeights"/>. Capitals are stated in several
    /// wordings ("lima is the capital of peru", "peru has its capital in lima", and FAQ-style "what is the capital of
    /// peru? lima"), as real text states facts; the instruction form "Q: What is ...?\nA: " appears nowhere.</summary>
    public string NextPretrainLine()
    {
        double u = _rng.NextDouble() * _cumulativeWeights[^1];
        int k = 0;
        while (k < Kinds.Count - 1 && u >= _cumulativeWeights[k]) k++;
        string kind = Kinds[k];
        if (kind != "capital") return Next(kind).PretrainText;
        int i = Fact(Capitals.Count);
        var (c, cap) = Capitals[i];
        return _rng.Next(4) switch
        {
            1 => $"{cap} is the capital of {c}",
            2 => $"{c} has its capital in {cap}",
            3 => $"what is the capital of {c}? {cap}",
            _ => $"the capital of {c} is {cap}",
        };
    }

    /// <summary>The next task of one kind (one of <see cref="Kinds"/>).</summary>
    public QuickTask Next(string kind)
    {
        switch (kind)
        {
            case "add":
            {
                int a = _rng.Next(_maxNumber + 1), b = _rng.Next(_maxNumber + 1);
                return Make(kind, $"{a} plus {b}", (a + b).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            case "sub":
            {
                int a = _rng.Next(_maxNumber + 1), b = _rng.Next(a + 1);
                return Make(kind, $"{a} minus {b}", (a - b).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            case "copy":
            {
                var w = Word(3, 4);
                return Make(kind, $"{w} copied", w);
            }
            case "reverse":
            {
                var w = Word(3, 3);
                var r = w.ToCharArray();
                Array.Reverse(r);
                return Make(kind, $"{w} reversed", new string(r));
            }
            case "sort":
            {
                var d = new char[_rng.Next(3, 6)];
                for (int i = 0; i < d.Length; i++) d[i] = (char)('0' + _rng.Next(10));
                var s = (char[])d.Clone();
                Array.Sort(s);
                return Make(kind, $"{new string(d)} sorted", new string(s));
            }
            case "capital":
            {
                var (c, cap) = Capitals[Fact(Capitals.Count)];
                return Make(kind, $"the capital of {c}", cap);
            }
            case "color":
            {
                // Reading: the colour of a made-up thing is given in the question itself.
                string w = Word(3, 4), c = ColorNames[_rng.Next(ColorNames.Count)];
                return Make(kind, $"the color of {w} if {w} is {c}", c);
            }
            default:
                throw new ArgumentException($"unknown task kind '{kind}' (known: {string.Join(", ", Kinds)})", nameof(kind));
        }
    }

    // The same phrase in both forms, so fine-tuning has only the format to learn: "12 plus 7 is 19" in pretraining,
    // "Q: What is 12 plus 7?\nA: 19" as an instruction.
    static QuickTask Make(string kind, string phrase, string answer) =>
        new(kind, $"{phrase} is {answer}", $"Q: What is {phrase}?\nA: ", answer);

    string Word(int min, int max)
    {
        var c = new char[_rng.Next(min, max + 1)];
        for (int i = 0; i < c.Length; i++) c[i] = (char)('a' + _rng.Next(26));
        return new string(c);
    }
}
