// The preview page: one Dashboard Studio definition rendered by Splunk's own DashboardCore
// and EnterpriseViewOnlyPreset, every search fed from a fixture (keyed by data source id).
import React from 'react';
import { createRoot } from 'react-dom/client';
import DashboardCore from '@splunk/dashboard-core';
import { DashboardContextProvider } from '@splunk/dashboard-context';
import EnterpriseViewOnlyPreset from '@splunk/dashboard-presets/EnterpriseViewOnlyPreset';
import DataSource from '@splunk/datasources/DataSource';
import SplunkSearch from '@splunk/datasources/SplunkSearch';
import SplunkThemeProvider from '@splunk/themes/SplunkThemeProvider';

// What a search answered in the tests ({fields: [{name}], columns: [[...]]}), by data source
// id; a data source with no fixture fails like a search that errors, never silently empty.
// Splunk's own search config (options schema, chaining rules) so that a definition's
// ds.chain/extend are validated as in Splunk.
class FixtureSearch extends DataSource {
    static schema = SplunkSearch.schema;

    static config = SplunkSearch.config;

    request() {
        const { id } = this.context;
        const fixtures = window.__KEPLER__.fixtures;
        return (observer) => {
            const data = fixtures[id];
            if (!data) {
                observer.error({ level: 'error', message: `no fixture for data source ${id}` });
                return () => {};
            }
            observer.next({ data, meta: { status: 'done', totalCount: data.columns[0]?.length ?? 0 } });
            observer.complete();
            return () => {};
        };
    }
}

const preset = {
    ...EnterpriseViewOnlyPreset,
    dataSources: {
        ...EnterpriseViewOnlyPreset.dataSources,
        'ds.search': FixtureSearch,
        'ds.chain': FixtureSearch,
    },
};

// One page renders one dashboard after another (loading the bundle once):
// window.keplerRender({definition, fixtures, theme}) replaces what is shown.
let root = null;
window.keplerRender = (config) => {
    window.__KEPLER__ = config;
    if (root) root.unmount();
    // Inputs keep their tokens in the URL (form.model=...): each dashboard starts clean.
    window.history.replaceState(null, '', window.location.pathname);
    root = createRoot(document.getElementById('root'));
    root.render(
        <SplunkThemeProvider family="enterprise" colorScheme={config.theme || 'light'} density="compact">
            <DashboardContextProvider preset={preset} initialDefinition={config.definition}>
                <DashboardCore width="100%" height="auto" />
            </DashboardContextProvider>
        </SplunkThemeProvider>,
    );
};
