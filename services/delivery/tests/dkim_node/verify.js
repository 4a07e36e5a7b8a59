'use strict';
// Verifies the DKIM signatures of messages with mailauth (an implementation independent of
// delivery's signer and of dkimpy), looking the keys up over the DNS server given.
//
//   node verify.js 127.0.0.1:5353 message1.eml message2.eml ...
//
// prints one JSON line: for each message, its signatures in order, each
// {"result": "pass" | "fail" | "neutral" | ..., "algo", "domain", "selector", "comment"}.
const fs = require('node:fs');
const { Resolver } = require('node:dns').promises;
const { dkimVerify } = require('mailauth/lib/dkim/verify');

async function main() {
    const [server, ...files] = process.argv.slice(2);
    if (!server || !files.length) {
        process.stderr.write('usage: node verify.js HOST:PORT FILE...\n');
        process.exit(2);
    }
    const dns = new Resolver({ timeout: 3000, tries: 2 });
    dns.setServers([server]);
    // mailauth calls resolver(name, rrtype) for every key record it needs.
    const resolver = async (name, rrtype) => dns.resolve(name, rrtype);
    const answers = [];
    for (const file of files) {
        const result = await dkimVerify(fs.readFileSync(file), { resolver });
        answers.push(
            result.results.map(r => ({
                result: r.status.result,
                algo: r.algo,
                domain: r.signingDomain,
                selector: r.selector,
                comment: r.status.comment || ''
            }))
        );
    }
    process.stdout.write(JSON.stringify(answers) + '\n');
}

main().catch(err => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
});
