import type { Dialect } from "../../http/errors";

/**
 * Aodh's errors as WSME renders them: `{"error_message": {"faultcode", "faultstring",
 * "debuginfo"}}`. Both real clients read `error_message.faultstring` (aodhclient's
 * exceptions.from_response, ceilometerclient's HTTPException), so a refusal prints
 * its sentence in the CLI.
 */
export const alarmsDialect: Dialect = {
  name: "alarms",
  render: (e) => {
    const faultstring =
      e.kind === "unauthenticated"
        ? "The request you have made requires authentication."
        : e.kind === "method_not_allowed"
          ? "Method not allowed"
          : e.fields
            ? Object.entries(e.fields)
                .map(([field, reason]) => `Invalid input for field/attribute ${field}. ${reason}`)
                .join(" ")
            : e.message;
    return {
      status: e.status,
      body: { error_message: { faultcode: e.status >= 500 ? "Server" : "Client", faultstring, debuginfo: null } },
    };
  },
};
