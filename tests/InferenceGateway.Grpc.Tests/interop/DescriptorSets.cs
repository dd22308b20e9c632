using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace InferenceGateway.Tests.Interop;

/// <summary>Descriptor files for interop/grpc_interop.py (shared by the transport's and the gateway's interop tests).</summary>
internal static class DescriptorSets
{
    /// <summary>
    /// Writes a FileDescriptorSet with the files and their dependencies (dependencies first) from generated C#
    /// descriptors, for interop/grpc_interop.py's load_messages.
    /// </summary>
    public static void Write(string path, params FileDescriptor[] files)
    {
        var set = new FileDescriptorSet();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(FileDescriptor file)
        {
            if (!seen.Add(file.Name))
            {
                return;
            }

            foreach (var dependency in file.Dependencies)
            {
                Add(dependency);
            }

            set.File.Add(FileDescriptorProto.Parser.ParseFrom(file.SerializedData));
        }

        foreach (var file in files)
        {
            Add(file);
        }

        File.WriteAllBytes(path, set.ToByteArray());
    }
}
