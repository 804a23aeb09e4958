import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  addressBytes,
  chooseDefaultInterface,
  describeAvailableInterfaces,
  expectedDataLinkType,
  listLocalAddresses,
  listNetworkInterfaces,
  type NetworkInterfaceInfo,
} from '../../../src/node/capture/network-interfaces.js';

function info(
  name: string,
  index: number,
  overrides: Partial<NetworkInterfaceInfo> = {},
): NetworkInterfaceInfo {
  return {
    name,
    index,
    up: true,
    running: true,
    loopback: false,
    promiscuous: false,
    hardwareType: 1,
    mtu: 1500,
    addresses: [],
    ...overrides,
  };
}

describe('network interfaces', () => {
  it('lists the loopback interface as up and loopback, in kernel index order', () => {
    const interfaces = listNetworkInterfaces();
    const lo = interfaces.find((candidate) => candidate.name === 'lo');
    expect(lo).toMatchObject({ up: true, loopback: true, hardwareType: 772 });
    expect(
      lo?.addresses.some((address) => address.address === '127.0.0.1' && address.prefixLength === 8),
    ).toBe(true);
    const indexes = interfaces.map((candidate) => candidate.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  });

  it.each([
    [
      'the first up and running non-loopback interface',
      [info('lo', 1, { loopback: true }), info('eth0', 2), info('eth1', 3)],
      'eth0',
    ],
    [
      'a running interface over an earlier one without carrier',
      [info('veth0', 2, { running: false }), info('eth1', 3)],
      'eth1',
    ],
    [
      'an up interface without carrier when nothing runs',
      [info('lo', 1, { loopback: true }), info('veth0', 2, { running: false })],
      'veth0',
    ],
    [
      'nothing when every other interface is down',
      [info('lo', 1, { loopback: true }), info('eth0', 2, { up: false, running: false })],
      undefined,
    ],
    ['nothing when there is only loopback', [info('lo', 1, { loopback: true })], undefined],
  ])('chooses %s by default', (_what, interfaces, expected) => {
    expect(chooseDefaultInterface(interfaces)?.name).toBe(expected);
  });

  it('describes interfaces for error messages with their state', () => {
    expect(
      describeAvailableInterfaces([info('lo', 1, { loopback: true }), info('eth0', 2, { up: false })]),
    ).toBe('lo (loopback), eth0 (down)');
    expect(describeAvailableInterfaces([])).toBe('none');
  });

  it.each([
    [1, 1],
    [772, 1],
    [65534, 12],
    [776, 12],
    [512, 113],
  ])('expects hardware type %i to be captured as DLT %i', (hardwareType, dlt) => {
    expect(expectedDataLinkType(hardwareType)).toBe(dlt);
  });

  it.each([
    [4, '198.18.0.1', [198, 18, 0, 1]],
    [4, '255.255.255.255', [255, 255, 255, 255]],
    [6, '::1', [...new Array(15).fill(0), 1]],
    [6, '::', new Array(16).fill(0)],
    [6, '2001:db8::1', [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]],
    [
      6,
      'fe80::a8c1:abff:fe12:3456%eth0',
      [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xa8, 0xc1, 0xab, 0xff, 0xfe, 0x12, 0x34, 0x56],
    ],
    [6, '::ffff:198.18.0.1', [...new Array(10).fill(0), 0xff, 0xff, 198, 18, 0, 1]],
    [6, '1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    [6, '1::', [0, 1, ...new Array(14).fill(0)]],
  ] as const)('turns IPv%i address %s into network-order bytes', (family, text, bytes) => {
    expect([...addressBytes(family, text)]).toEqual(bytes);
  });

  it("returns every address os.networkInterfaces() knows, with its interface, as the host's own", () => {
    const expected = Object.entries(networkInterfaces()).flatMap(([name, entries]) =>
      (entries ?? []).map((entry) => `${name} ${entry.address}`),
    );
    const local = listLocalAddresses();
    expect(local.map((address) => `${address.interfaceName} ${address.address}`)).toEqual(expected);
    expect(local.find((address) => address.address === '127.0.0.1')).toMatchObject({
      family: 4,
      interfaceName: 'lo',
    });
    for (const address of local) expect(address.bytes.length).toBe(address.family === 4 ? 4 : 16);
  });
});
