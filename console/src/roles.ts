// What a token's roles allow, as runner/service/access.py decides it, to show only that.
import type { Json } from "./api";

type Grant = { role: string; functions: string[] | null };

export class Roles {
  constructor(private grants: Grant[]) {}

  static of(whoami: Json): Roles { return new Roles(whoami.token.roles); }

  private has(roles: string[], fn?: string): boolean {
    return this.grants.some((g) => g.role === "workspace_owner" || (roles.includes(g.role) &&
      (fn === undefined || g.functions === null || g.functions.includes(fn))));
  }

  canCreateFunctions(): boolean {
    return this.grants.some((g) => g.role === "workspace_owner" ||
      (g.role === "functions_admin" && g.functions === null));
  }
  canEdit(fn: string): boolean { return this.has(["functions_admin"], fn); }
  canTest(fn: string): boolean { return this.has(["functions_admin", "functions_read"], fn); }
  canManageSources(): boolean { return this.has(["source_admin"]); }
  canManageTokens(): boolean { return this.has([]); }
}
