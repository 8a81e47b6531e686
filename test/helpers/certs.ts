/**
 * Test certificates made with the `openssl` command line: a throw-away CA, a server certificate
 * for 127.0.0.1/localhost and a client certificate, all signed by that CA, in a temporary folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Paths of the generated files (PEM). */
export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second, unrelated CA with a client certificate: trusted by nobody. */
  readonly rogueCaFile: string;
  readonly rogueClientCert: string;
  readonly rogueClientKey: string;
  /** Deletes the folder. */
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT") {
      throw new Error("openssl not found: install it with 'apt-get install -y openssl' (.ci/run does)");
    }
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr?.toString() ?? String(err)}`);
  }
}

/** Creates a CA and a leaf certificate signed by it (EC P-256 keys: fast to generate). */
function issue(cwd: string, ca: string, name: string, cn: string, ext: string): void {
  writeFileSync(join(cwd, `${name}.ext`), ext);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}-key.pem`], cwd);
  openssl(["req", "-new", "-key", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], cwd);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}-key.pem`, "-CAcreateserial",
      "-out", `${name}.pem`, "-days", "2", "-sha256", "-extfile", `${name}.ext`],
    cwd,
  );
}

function makeCa(cwd: string, name: string, cn: string): void {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}-key.pem`], cwd);
  openssl(
    ["req", "-x509", "-new", "-key", `${name}-key.pem`, "-out", `${name}.pem`, "-days", "2", "-sha256", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    cwd,
  );
}

/** Generates the certificates into a new temporary folder. */
export function generateTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "sb-certs-"));
  makeCa(dir, "ca", "Switchboard Test CA");
  issue(dir, "ca", "server", "127.0.0.1",
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
  issue(dir, "ca", "client", "switchboard-test-client",
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");
  makeCa(dir, "rogue-ca", "Rogue CA");
  issue(dir, "rogue-ca", "rogue-client", "rogue-client",
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caFile: p("ca.pem"),
    serverCert: p("server.pem"),
    serverKey: p("server-key.pem"),
    clientCert: p("client.pem"),
    clientKey: p("client-key.pem"),
    rogueCaFile: p("rogue-ca.pem"),
    rogueClientCert: p("rogue-client.pem"),
    rogueClientKey: p("rogue-client-key.pem"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
