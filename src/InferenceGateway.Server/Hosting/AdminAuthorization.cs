using System.Security.Cryptography;
using System.Text;

namespace InferenceGateway.Server.Hosting;

/// <summary>Bearer-token check for admin mutations; without a configured token they are disabled.</summary>
internal static class AdminAuthorization
{
    public static bool IsAuthorized(HttpContext context, AdminSettings settings)
    {
        if (string.IsNullOrEmpty(settings.Token))
        {
            return false;
        }

        var header = context.Request.Headers.Authorization.ToString();
        const string Prefix = "Bearer ";
        if (!header.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        // Constant-time comparison so the token cannot be guessed byte by byte from response times.
        return CryptographicOperations.FixedTimeEquals(
            Encoding.UTF8.GetBytes(header[Prefix.Length..]),
            Encoding.UTF8.GetBytes(settings.Token));
    }

    public static IResult Deny(HttpContext context, AdminSettings settings)
    {
        if (string.IsNullOrEmpty(settings.Token))
        {
            return Results.Text("admin mutations are disabled: set Gateway:Admin:Token\n", statusCode: StatusCodes.Status403Forbidden);
        }

        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Text("missing or wrong bearer token\n", statusCode: StatusCodes.Status401Unauthorized);
    }
}
