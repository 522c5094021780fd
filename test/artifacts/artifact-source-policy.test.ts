// The redirect rules on their own, for the cases a loopback server cannot show (https, host names
// beside loopback addresses): artifact-source-limits.test.ts drives them through real downloads.
import test from 'ava';
import { redirectRefusal, type SourcePolicy } from '../../ops-agent/artifacts/artifact-source-policy.js';

const policy = (over: Partial<SourcePolicy> = {}): SourcePolicy => ({ allowedFileDirs: [], allowedRedirectHosts: [], maxRedirects: 5, ...over });
const source = new URL('https://releases.example.com/hearth/a.tgz?token=x');

function refusal(to: string, over: Partial<SourcePolicy> = {}, followed = 0, from = source): string | undefined {
  return redirectRefusal(source, from, new URL(to), followed, policy(over));
}

test("the source's own host is followed, on any port and path", (t) => {
  t.is(refusal('https://releases.example.com/mirror/a.tgz'), undefined);
  t.is(refusal('https://releases.example.com:8443/a.tgz'), undefined);
  t.is(refusal('http://releases.example.com/a.tgz', {}, 0, new URL('http://releases.example.com/')), undefined);
});

test('another host only when listed; `*.` matches subdomains, not the domain itself nor look-alikes', (t) => {
  t.regex(refusal('https://cdn.example.net/a.tgz') ?? '', /cdn\.example\.net, which is neither the source's host nor in upgrade\.allowedRedirectHosts/);
  t.is(refusal('https://cdn.example.net/a.tgz', { allowedRedirectHosts: ['cdn.example.net'] }), undefined);
  t.is(refusal('https://CDN.Example.NET/a.tgz', { allowedRedirectHosts: ['cdn.example.net'] }), undefined);
  t.is(refusal('https://x.blob.example.net/a', { allowedRedirectHosts: ['*.blob.example.net'] }), undefined);
  t.is(refusal('https://a.b.blob.example.net/a', { allowedRedirectHosts: ['*.blob.example.net'] }), undefined);
  t.not(refusal('https://blob.example.net/a', { allowedRedirectHosts: ['*.blob.example.net'] }), undefined);
  t.not(refusal('https://evilblob.example.net/a', { allowedRedirectHosts: ['*.blob.example.net'] }), undefined);
  t.not(refusal('https://cdn.example.net.evil.test/a', { allowedRedirectHosts: ['cdn.example.net'] }), undefined);
  t.is(refusal('http://[::1]:8080/a', { allowedRedirectHosts: ['[::1]'] }, 0, new URL('http://releases.example.com/')), undefined);
});

test('never from https to plain http, never to another scheme, never more than maxRedirects', (t) => {
  t.regex(refusal('http://releases.example.com/a.tgz') ?? '', /https to plain http/);
  t.regex(refusal('http://cdn.example.net/a.tgz', { allowedRedirectHosts: ['cdn.example.net'] }) ?? '', /https to plain http/);
  t.regex(refusal('file:///etc/passwd') ?? '', /unsupported scheme file:/);
  t.regex(refusal('ftp://releases.example.com/a.tgz') ?? '', /unsupported scheme/);
  t.is(refusal('https://releases.example.com/b', {}, 4), undefined);
  t.regex(refusal('https://releases.example.com/b', {}, 5) ?? '', /more than 5 redirect/);
  t.regex(refusal('https://releases.example.com/b', { maxRedirects: 0 }) ?? '', /more than 0 redirect/);
});
