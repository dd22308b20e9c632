using System.Globalization;

namespace InferenceGateway.Core.Features;

/// <summary>
/// A compiled on-demand expression: numbers, feature names, <c>+ - * /</c>, unary minus, parentheses and the functions
/// <c>min(a, b, ...)</c>, <c>max(a, b, ...)</c>, <c>abs(a)</c> and <c>coalesce(a, b)</c> (a unless it was defaulted or is
/// not finite, else b). Compiled once to postfix code that runs on a stack the caller provides, so evaluation
/// allocates nothing and cannot do anything but arithmetic. Every value carries a "defaulted" bit that arithmetic
/// propagates (a result computed from a default is itself reported as defaulted).
/// </summary>
internal sealed class FeatureExpression
{
    private const int MaxLength = 2_000;
    private const int MaxDepth = 32;

    private FeatureExpression(Instruction[] code, string[] references, int stackDepth)
    {
        Code = code;
        References = references;
        StackDepth = stackDepth;
    }

    /// <summary>Distinct feature names read, in order of first use; <see cref="OpCode.Load"/> indexes this list.</summary>
    public string[] References { get; }

    /// <summary>Postfix code.</summary>
    public Instruction[] Code { get; }

    /// <summary>Deepest the evaluation stack gets.</summary>
    public int StackDepth { get; }

    internal enum OpCode : byte
    {
        Constant,
        Load,
        Add,
        Subtract,
        Multiply,
        Divide,
        Negate,
        Min,
        Max,
        Abs,
        Coalesce,
    }

    internal readonly record struct Instruction(OpCode Op, int Argument, double Constant);

    /// <summary>Parses <paramref name="text"/>; on failure returns null and a message with the character position.</summary>
    public static FeatureExpression? TryParse(string text, out string? error)
    {
        if (text.Length > MaxLength)
        {
            error = $"expression is longer than {MaxLength} characters";
            return null;
        }

        var parser = new Parser(text);
        try
        {
            parser.ParseExpression(0);
            parser.SkipSpace();
            if (parser.Position < text.Length)
            {
                throw parser.Error($"unexpected '{text[parser.Position]}'");
            }
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }

        error = null;
        return new FeatureExpression([.. parser.Code], [.. parser.References], parser.MaxStack);
    }

    /// <summary>
    /// Runs the code. <paramref name="slots"/>/<paramref name="slotDefaulted"/> hold every feature's value; reference i
    /// reads slot <paramref name="referenceSlots"/>[i]. The stacks must hold <see cref="StackDepth"/> entries.
    /// </summary>
    public double Evaluate(
        ReadOnlySpan<int> referenceSlots,
        ReadOnlySpan<double> slots,
        ReadOnlySpan<bool> slotDefaulted,
        Span<double> stack,
        Span<bool> stackDefaulted,
        out bool defaulted)
    {
        var sp = 0;
        var code = Code;
        for (var pc = 0; pc < code.Length; pc++)
        {
            ref readonly var ins = ref code[pc];
            switch (ins.Op)
            {
                case OpCode.Constant:
                    stack[sp] = ins.Constant;
                    stackDefaulted[sp] = false;
                    sp++;
                    break;
                case OpCode.Load:
                    var slot = referenceSlots[ins.Argument];
                    stack[sp] = slots[slot];
                    stackDefaulted[sp] = slotDefaulted[slot];
                    sp++;
                    break;
                case OpCode.Negate:
                    stack[sp - 1] = -stack[sp - 1];
                    break;
                case OpCode.Abs:
                    stack[sp - 1] = Math.Abs(stack[sp - 1]);
                    break;
                case OpCode.Coalesce:
                    sp--;
                    if (stackDefaulted[sp - 1] || !double.IsFinite(stack[sp - 1]))
                    {
                        stack[sp - 1] = stack[sp];
                        stackDefaulted[sp - 1] = stackDefaulted[sp];
                    }

                    break;
                case OpCode.Min:
                case OpCode.Max:
                    var first = sp - ins.Argument;
                    var value = stack[first];
                    var anyDefaulted = stackDefaulted[first];
                    for (var i = first + 1; i < sp; i++)
                    {
                        value = ins.Op == OpCode.Min ? Math.Min(value, stack[i]) : Math.Max(value, stack[i]);
                        anyDefaulted |= stackDefaulted[i];
                    }

                    sp = first + 1;
                    stack[first] = value;
                    stackDefaulted[first] = anyDefaulted;
                    break;
                default:
                    sp--;
                    var right = stack[sp];
                    ref var left = ref stack[sp - 1];
                    left = ins.Op switch
                    {
                        OpCode.Add => left + right,
                        OpCode.Subtract => left - right,
                        OpCode.Multiply => left * right,
                        _ => left / right,
                    };
                    stackDefaulted[sp - 1] |= stackDefaulted[sp];
                    break;
            }
        }

        defaulted = stackDefaulted[0];
        return stack[0];
    }

    /// <summary>Recursive-descent parser emitting postfix code; depth-limited so hostile input cannot overflow the stack.</summary>
    private sealed class Parser(string text)
    {
        private int _stack;

        public int Position { get; private set; }

        public List<Instruction> Code { get; } = [];

        public List<string> References { get; } = [];

        public int MaxStack { get; private set; }

        public FormatException Error(string message) =>
            new(string.Create(CultureInfo.InvariantCulture, $"{message} at position {Position + 1} of '{text}'"));

        public void SkipSpace()
        {
            while (Position < text.Length && char.IsWhiteSpace(text[Position]))
            {
                Position++;
            }
        }

        public void ParseExpression(int depth)
        {
            if (depth > MaxDepth)
            {
                throw Error($"expression nests deeper than {MaxDepth}");
            }

            ParseTerm(depth);
            while (true)
            {
                SkipSpace();
                if (Position < text.Length && text[Position] is '+' or '-')
                {
                    var op = text[Position++] == '+' ? OpCode.Add : OpCode.Subtract;
                    ParseTerm(depth);
                    Emit(op, 0, 0, -1);
                }
                else
                {
                    return;
                }
            }
        }

        private void ParseTerm(int depth)
        {
            ParseUnary(depth);
            while (true)
            {
                SkipSpace();
                if (Position < text.Length && text[Position] is '*' or '/')
                {
                    var op = text[Position++] == '*' ? OpCode.Multiply : OpCode.Divide;
                    ParseUnary(depth);
                    Emit(op, 0, 0, -1);
                }
                else
                {
                    return;
                }
            }
        }

        private void ParseUnary(int depth)
        {
            SkipSpace();
            if (Position < text.Length && text[Position] == '-')
            {
                Position++;
                if (depth + 1 > MaxDepth)
                {
                    throw Error($"expression nests deeper than {MaxDepth}");
                }

                ParseUnary(depth + 1);
                Emit(OpCode.Negate, 0, 0, 0);
                return;
            }

            ParsePrimary(depth);
        }

        private void ParsePrimary(int depth)
        {
            SkipSpace();
            if (Position >= text.Length)
            {
                throw Error("expected a number, a feature name or '('");
            }

            var c = text[Position];
            if (c == '(')
            {
                Position++;
                ParseExpression(depth + 1);
                Expect(')');
                return;
            }

            if (char.IsAsciiDigit(c) || c == '.')
            {
                var start = Position;
                while (Position < text.Length && (char.IsAsciiDigit(text[Position]) || text[Position] == '.'))
                {
                    Position++;
                }

                if (Position < text.Length && text[Position] is 'e' or 'E')
                {
                    Position++;
                    if (Position < text.Length && text[Position] is '+' or '-')
                    {
                        Position++;
                    }

                    while (Position < text.Length && char.IsAsciiDigit(text[Position]))
                    {
                        Position++;
                    }
                }

                var literal = text.AsSpan(start, Position - start);
                if (!double.TryParse(literal, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                {
                    Position = start;
                    throw Error($"'{literal}' is not a number");
                }

                Emit(OpCode.Constant, 0, value, 1);
                return;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = Position;
                while (Position < text.Length && (char.IsAsciiLetterOrDigit(text[Position]) || text[Position] == '_'))
                {
                    Position++;
                }

                var name = text[start..Position];
                SkipSpace();
                if (Position < text.Length && text[Position] == '(')
                {
                    ParseCall(name, start, depth);
                    return;
                }

                var index = References.IndexOf(name);
                if (index < 0)
                {
                    index = References.Count;
                    References.Add(name);
                }

                Emit(OpCode.Load, index, 0, 1);
                return;
            }

            throw Error($"unexpected '{c}'");
        }

        private void ParseCall(string name, int start, int depth)
        {
            var (op, minArgs, maxArgs) = name switch
            {
                "min" => (OpCode.Min, 2, 16),
                "max" => (OpCode.Max, 2, 16),
                "abs" => (OpCode.Abs, 1, 1),
                "coalesce" => (OpCode.Coalesce, 2, 2),
                _ => (OpCode.Constant, 0, 0),
            };
            if (maxArgs == 0)
            {
                Position = start;
                throw Error($"unknown function '{name}' (known: min, max, abs, coalesce)");
            }

            Position++; // '('
            var count = 0;
            while (true)
            {
                ParseExpression(depth + 1);
                count++;
                SkipSpace();
                if (Position < text.Length && text[Position] == ',')
                {
                    Position++;
                    continue;
                }

                Expect(')');
                break;
            }

            if (count < minArgs || count > maxArgs)
            {
                Position = start;
                throw Error(minArgs == maxArgs
                    ? $"{name} takes {minArgs} argument(s), got {count}"
                    : $"{name} takes {minArgs} to {maxArgs} arguments, got {count}");
            }

            // Variadic min/max pop their arity; abs works in place; coalesce pops one.
            Emit(op, count, 0, op == OpCode.Abs ? 0 : 1 - count);
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (Position >= text.Length || text[Position] != c)
            {
                throw Error($"expected '{c}'");
            }

            Position++;
        }

        private void Emit(OpCode op, int argument, double constant, int stackChange)
        {
            Code.Add(new Instruction(op, argument, constant));
            _stack += stackChange;
            MaxStack = Math.Max(MaxStack, _stack);
        }
    }
}
